"""Registers the synthetic benchmark (generated, nothing to download): known ceiling and
generator, so its scores are checks of the method, never ranked beside brain data."""

from __future__ import annotations

from ...benchmarks import Benchmark, register as register_benchmark, register_stimulus_set


def _load():
    from . import load_synthetic

    return load_synthetic()


def register() -> None:
    register_stimulus_set("synthetic", _load)
    register_benchmark(Benchmark("synthetic.encoding", "encoding", "synthetic", "synthetic",
                                 "Simulated neurons (fixed readout of ReferenceNet.block2 + trial noise): known "
                                 "ceiling and generator.", {"n_splits": 5}))
    register_benchmark(Benchmark("synthetic.pls", "pls", "synthetic", "synthetic",
                                 "Synthetic benchmark under Brain-Score's PLS protocol (25 components, 10 × 90/10 "
                                 "splits)."))
    for train, test in (("gratings", "blobs"), ("blobs", "gratings")):
        register_benchmark(Benchmark(f"synthetic.ood.{train}_to_{test}", "ood", "synthetic", "synthetic",
                                     f"Fit on {train}, test on {test}: known ceiling.",
                                     {"split": "label", "column": "family", "train": train, "test": test}))
