"""Versioned benchmarks (issue 26 §5): an integer version and a content hash over data, stimuli,
kind, options, protocol and ceiling method; result rows carry both; merging refuses mixed versions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from neuroalign.benchmarks import get_benchmark
from neuroalign.errors import DataError
from neuroalign.results import combine_tables
from neuroalign.scoring import RESULT_COLUMNS
from neuroalign.versions import content_hash, data_hash


@pytest.fixture(scope="module")
def bench():
    return get_benchmark("synthetic.encoding")


@pytest.fixture(scope="module")
def loaded(bench):
    return bench.load(), bench.stimuli().content_hash


def test_changing_a_metric_option_changes_the_hash(bench, loaded):
    data, stim = loaded
    base = content_hash(bench, data, stim)
    assert base == content_hash(bench, data, stim)  # deterministic
    assert len(base) == 16
    other = dataclasses.replace(bench, options={**bench.options, "n_splits": 10})
    assert content_hash(other, data, stim) != base
    ceiling = dataclasses.replace(bench, options={**bench.options, "ceiling": "internal_consistency"})
    assert content_hash(ceiling, data, stim) != base
    assert content_hash(bench, data, stim, protocol="brainscore") != base
    assert content_hash(bench, data, "another stimulus set") != base
    assert dataclasses.replace(bench, kind="pls").kind == "pls"
    assert content_hash(dataclasses.replace(bench, kind="pls"), data, stim) != base


def test_one_changed_response_changes_the_data_hash(loaded):
    data, _ = loaded
    h = data_hash(data)
    changed = data.copy(deep=True)
    changed.values[0, 0] = np.nextafter(changed.values[0, 0], np.inf)
    assert data_hash(changed) != h
    assert data_hash(data.copy(deep=True)) == h


def test_builtin_and_file_benchmarks_have_a_version(bench, tmp_path):
    from test_open_benchmarks import _bench_folder

    assert bench.version == 1
    folder = _bench_folder(tmp_path, version=3)
    fb = get_benchmark(str(folder / "bench.yaml"))
    assert fb.version == 3
    h = content_hash(fb)
    (folder / "bench.yaml").write_text((folder / "bench.yaml").read_text() + "options: {n_splits: 3}\n")
    assert content_hash(get_benchmark(str(folder / "bench.yaml"))) != h


def _rows(model, h, version=1, raw=0.5):
    row = {c: np.nan for c in RESULT_COLUMNS}
    row.update(model=model, benchmark="b.encoding", kind="encoding", scope="reported", layer="l", raw=raw,
               ceiling=1.0, normalized=raw, benchmark_version=version, benchmark_hash=h)
    return pd.DataFrame([row], columns=RESULT_COLUMNS)


def test_results_refuse_rows_of_two_benchmark_versions_naming_the_files(tmp_path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    _rows("m1", "00aa11bb22cc33dd").to_csv(a, index=False)
    _rows("m2", "00aa11bb22cc33dd").to_csv(b, index=False)
    _rows("m3", "1234e56789012345", version=2).to_csv(c, index=False)  # a hash that parses as a float
    assert len(combine_tables([a, b])) == 2
    with pytest.raises(DataError) as err:
        combine_tables([a, c])
    msg = str(err.value)
    assert str(a) in msg and str(c) in msg and "v1 (00aa11bb)" in msg and "v2 (1234e567)" in msg
