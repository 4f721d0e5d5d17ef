"""Issue 28: every kind's layer rows carry the interval its reported row has (PLS, CKA and OOD
were empty), and id_vs_ood draws ID and OOD intervals. Known answers on linear simulations:
a layer that is the truth has a high, narrow interval, a layer of noise one that holds 0, and
where every fold (half) chooses one layer its layer row's interval is the reported one."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroalign.data.assembly import as_averaged, make_assembly
from neuroalign.scoring import result_rows


def _linear(seed, n=240, p=30, t=20, reps=4):
    rng = np.random.default_rng([seed, 28])
    X = rng.standard_normal((n, p))
    sig = X @ rng.standard_normal((p, t)) / np.sqrt(p)
    trials = sig[:, None, :] + rng.standard_normal((n, reps, t))
    ids = np.array([f"s{i:04d}" for i in range(n)])
    asm = make_assembly(trials.reshape(-1, t), stimulus_id=np.repeat(ids, reps))
    feats = {name: xr.DataArray(v, dims=("presentation", "feature"), coords={"stimulus_id": ("presentation", ids)})
             for name, v in (("truth", X), ("noise", rng.standard_normal((n, p))))}
    return feats, asm, ids, sig


def _rows(ds, kind):
    ds.attrs.update(model="m", benchmark="b", kind=kind, region="r")
    t = result_rows(ds)
    return t[t["scope"] == "layer"].set_index("layer"), t[t["scope"] == "reported"].iloc[0]


def _ood_split(ids, sig, n_ood=80):
    from neuroalign.ood.splits import OODSplit

    order = np.argsort(sig[:, 0])
    return OODSplit(list(ids[order[n_ood:]]), list(ids[order[:n_ood]]), "by_first_neuron", {})


@pytest.mark.parametrize("kind", ["pls", "cka", "ood"])
def test_layer_rows_have_intervals(kind):
    from neuroalign.scorers.cka import score_cka
    from neuroalign.scorers.ood import score_ood
    from neuroalign.scorers.pls import score_pls

    feats, asm, ids, sig = _linear(0)
    if kind == "cka":  # the truth layer: the averaged responses' own signal
        feats["truth"] = xr.DataArray(sig, dims=("presentation", "feature"), coords={"stimulus_id": ("presentation", ids)})
    score = {"pls": lambda f: score_pls(f, asm, seed=0), "cka": lambda f: score_cka(f, asm, seed=0),
             "ood": lambda f: score_ood(f, asm, _ood_split(ids, sig), seed=0)}[kind]
    layers, reported = _rows(score(feats), kind)
    truth, noise = layers.loc["truth"], layers.loc["noise"]
    assert reported["layer"] == "truth"
    assert noise["ci_low"] < 0.05 and noise["ci_low"] <= 0 <= noise["ci_high"]  # noise: an interval holding 0
    assert truth["ci_low"] > noise["ci_high"] + 0.3  # the truth: far above it
    assert truth["ci_high"] - truth["ci_low"] < 0.3
    cols = ["ci_low", "ci_high"] + (["id_ci_low", "id_ci_high", "gap_ci_low", "gap_ci_high"] if kind == "ood" else [])
    one, one_reported = _rows(score({"truth": feats["truth"]}), kind)
    for c in cols:  # every fold chooses the one layer: its row's interval is the reported one
        assert one.loc["truth", c] == pytest.approx(one_reported[c], abs=1e-12), c
        assert np.isfinite(layers[c]).all(), c
    if kind == "ood":
        assert noise["id_ci_low"] <= 0 <= noise["id_ci_high"] and truth["id_ci_low"] > 0.5


def test_id_vs_ood_draws_both_intervals_on_its_scale(tmp_path):
    """The figure reads the layer rows' ID and OOD intervals; on the normalised scale they are
    divided by the same √ceiling as the scores (a constant per side)."""
    from neuroalign.figures import id_vs_ood
    from neuroalign.scorers.ood import score_ood

    feats, asm, ids, sig = _linear(1)
    layers, _ = _rows(score_ood(feats, asm, _ood_split(ids, sig), seed=0), "ood")
    table = pd.read_csv(id_vs_ood(layers.reset_index(), tmp_path)["csv"]).set_index("layer")
    assert set(table["scale"]) == {"normalised"}
    for side, raw, norm in (("id", "id_score", "id_normalized"), ("ood", "ood_score", "ood_normalized")):
        factor = layers[norm] / layers[raw]
        lo = layers["id_ci_low" if side == "id" else "ci_low"] * factor
        hi = layers["id_ci_high" if side == "id" else "ci_high"] * factor
        np.testing.assert_allclose(table[f"{side}_ci_low"], lo.loc[table.index])
        np.testing.assert_allclose(table[f"{side}_ci_high"], hi.loc[table.index])
        assert (table[f"{side}_ci_low"] < table[f"{side}_score"]).all()
    assert as_averaged(asm).sizes["presentation"] == len(ids)
