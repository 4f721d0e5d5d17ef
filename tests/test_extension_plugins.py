"""Issue 25: one installed package extends every table through entry points (a metric kind with
its own normaliser and result column, a model source, a benchmark of that kind), and the CLI
scores it (`neuroalign score`) and accepts its rows (`neuroalign results`). The recipes of
docs/architecture.md ("a metric kind", "a model source") follow this test."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plugin_pkg import install_plugin  # tests/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
import numpy as np
import torch

CEILING = 0.64


def quarter_power(raw, ceiling):
    """This kind's own convention: raw / ceiling ** 0.25 (deliberately neither built-in one)."""
    return raw / ceiling ** 0.25


def meanmatch(features, data, bench, *, seed):  # names only what it uses
    from neuroalign.data.assembly import as_averaged, stimulus_ids
    from neuroalign.scorers import build_score

    avg = as_averaged(data)
    target = avg.values.mean(1)
    ids = list(stimulus_ids(avg))
    layers = list(features)
    raw = [abs(float(np.corrcoef(features[l].sel(presentation=features[l]["stimulus_id"].isin(ids)).values.mean(1),
                                 target)[0, 1])) for l in layers]
    best = int(np.argmax(raw))
    return build_score(
        {"layer_raw": ("layer", raw), "layer_normalized": ("layer", [quarter_power(r, CEILING) for r in raw])},
        {"layer": layers}, metric="|r| of mean unit and mean neuron", normalization="raw / ceiling ** 0.25",
        layer=layers[best], layer_selection="best on all stimuli (a test kind)", aggregate_raw=raw[best],
        aggregate_ceiling=CEILING, aggregate_normalized=quarter_power(raw[best], CEILING),
        n_stimuli=len(ids), spread=float(np.ptp(raw)), seed_used=seed)


class Widths(torch.nn.Module):
    def __init__(self, width):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, width, 3)
        self.head = torch.nn.Conv2d(width, 2, 1)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)))


def load_widths(rest, **params):
    from neuroalign.models import LoadedModel, Preprocessing

    pre = Preprocessing(input_size=24, resize=24, mean=(0.5,) * 3, std=(0.25,) * 3)
    return LoadedModel(f"widths:{rest}", Widths(int(rest)), ["conv", "head"], pre)


def check_widths(spec, rest, params):
    from neuroalign.errors import UnknownKeyError

    if not rest.isdigit():
        raise ModelError(f"{spec}: give a width, e.g. widths:4.")


def register_metric():
    from neuroalign.scorers import register_metric

    register_metric("meanmatch", meanmatch, normalizer=quarter_power, normalization="raw / ceiling ** 0.25",
                    score_fields={"spread": float("nan")}, columns=("spread",), info_fields=("seed_used",))


def register_model():
    from neuroalign.models import ModelSource, register_model_source

    register_model_source(ModelSource("widths", load_widths, check_widths, "widths:<n channels>"))


def register_benchmark():
    from neuroalign.benchmarks import Benchmark, register, register_stimulus_set
    from neuroalign.data.assembly import make_assembly
    from neuroalign.data.stimuli import StimulusSet

    def load():
        rng = np.random.default_rng(0)
        images = rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8)
        ids = [f"mm{i:02d}" for i in range(40)]
        signal = images.reshape(40, -1, 3).mean(1)[:, :2]
        trials = np.repeat(signal, 3, axis=0) + rng.normal(0, 1.0, (120, 2))
        return make_assembly(trials, stimulus_id=np.repeat(ids, 3), region="V1"), StimulusSet.from_arrays(
            images, ids, "meanmatch_set")

    register_stimulus_set("meanmatch_set", load)
    register(Benchmark("plug.meanmatch", "meanmatch", "V1", "meanmatch_set", "a plugin kind's benchmark",
                       source="plugin:meanplug"))
'''


def _run(*args, env):
    return subprocess.run([sys.executable, "-m", "neuroalign.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("meanplug")
    return tmp, install_plugin(tmp, "meanplug", PLUGIN, {
        "neuroalign.metrics": {"meanmatch": "meanplug:register_metric"},
        "neuroalign.models": {"widths": "meanplug:register_model"},
        "neuroalign.benchmarks": {"meanmatch": "meanplug:register_benchmark"}})


def test_plugin_kind_and_model_source_score_and_pass_results(plugin_env):
    tmp, env = plugin_env
    listed = _run("models", env=env)
    assert listed.returncode == 0 and "widths:<n channels>" in listed.stdout, listed.stderr
    out = _run("score", "widths:4", "--benchmark", "plug.meanmatch", "--cache-dir", tmp / "c", "--device", "cpu",
               "--table", tmp / "t.csv", env=env)
    assert out.returncode == 0, out.stderr
    res = _run("results", tmp / "t.csv", "--out", tmp / "results.csv", env=env)
    assert res.returncode == 0, res.stderr  # the old code refused: the kind had no normaliser
    table = pd.read_csv(tmp / "results.csv")
    cols = list(table.columns)
    assert cols.index("gap_ci_high") < cols.index("spread") < cols.index("n_neuroids")  # a derived column
    rep = table.query("scope == 'reported'").iloc[0]
    assert rep["kind"] == "meanmatch" and rep["model"] == "widths:4" and rep["normalization"] == "raw / ceiling ** 0.25"
    assert rep["ceiling"] == 0.64 and np.isclose(rep["normalized"], rep["raw"] / 0.64 ** 0.25, rtol=1e-12)
    layers = table.query("scope == 'layer'")
    assert list(layers["layer"]) == ["conv", "head"] and np.isclose(rep["spread"], np.ptp(layers["raw"]))


def test_plugin_kind_is_in_the_schema_and_its_rows_are_checked(plugin_env, tmp_path):
    """A benchmark file may name the plugin's kind; a row breaking its normaliser is refused."""
    tmp, env = plugin_env
    code = textwrap.dedent('''
        import sys
        import pandas as pd
        from neuroalign.benchmarks.files import schema
        from neuroalign.scoring import check_identities
        assert "meanmatch" in schema()["properties"]["kind"]["enum"]
        t = pd.read_csv(sys.argv[1])
        t.loc[t["scope"] == "reported", "normalized"] *= 1.01
        bad = check_identities(t)
        assert len(bad) == 1 and "meanmatch" in bad[0] and "normalized" in bad[0], bad
        print("ok")
    ''')
    ran = subprocess.run([sys.executable, "-c", code, str(tmp / "t.csv")], capture_output=True, text=True, env=env,
                         timeout=300, cwd=ROOT)
    assert ran.returncode == 0 and ran.stdout.strip() == "ok", ran.stderr


def test_without_the_plugin_its_kind_and_source_are_unknown():
    from neuroalign.errors import UnknownKeyError
    from neuroalign.models import spec_forms
    from neuroalign.models.registry import check_spec
    from neuroalign.scorers import kinds

    assert "meanmatch" not in kinds() and "widths:<n channels>" not in spec_forms()
    with pytest.raises(UnknownKeyError, match=r"widths:4"):
        check_spec("widths:4")
