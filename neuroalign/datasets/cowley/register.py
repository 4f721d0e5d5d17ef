"""Registers Cowley et al. (2023): the dataset (manifest beside this file), one stimulus set
per session with images upstream, and each session's benchmark family."""

from __future__ import annotations

from functools import partial
from importlib import resources

from ...benchmarks import Benchmark, register as register_benchmark, register_stimulus_set
from ...data.registry import register_dataset

DATASET = "cowley2023_v4"


def _load(session: str):
    from . import load_cowley

    return load_cowley(session)


def sessions_with_images() -> list[str]:
    """Sessions whose images are in the manifest (a few have responses but no images upstream)."""
    from . import sessions
    from ...data.registry import get_dataset

    files = get_dataset(DATASET).files
    return [s for s in sessions() if f"images/images_{s}.zip" in files]


def session_benchmarks(session: str) -> list[Benchmark]:
    from ...data.registry import get_dataset

    files = get_dataset(DATASET).files
    raw = f"responses_raw/responses_{session}.npy" in files
    # the least it needs: images and averaged responses; single trials (and so a ceiling) where present
    needs = ((DATASET, f"images/images_{session}.zip"), (DATASET, f"responses_repeat_averaged/responses_{session}.npy"))
    what = ("single trials where responses_raw is present (ceilings), else repeat-averaged responses (no ceiling)"
            if raw else "repeat-averaged responses (no ceiling)")
    mk = partial(Benchmark, region="V4", stimulus_set=f"cowley2023_v4-{session}", files=needs)
    return [
        mk(f"cowley2023.{session}.encoding", "encoding",
           description=f"Cowley et al. 2023 V4 session {session}, {what}; cross-validated ridge.",
           options={"n_splits": 5}),
        mk(f"cowley2023.{session}.pls", "pls",
           description=f"Cowley V4 session {session} under Brain-Score's PLS protocol."),
        mk(f"cowley2023.{session}.rsa", "rsa",
           description=f"Cowley V4 session {session}: RDM of averaged responses vs model RDM (Spearman).",
           options={"method": "spearman"}),
        mk(f"cowley2023.{session}.cka", "cka",
           description=f"Cowley V4 session {session}: debiased linear CKA, averaged responses vs features.",
           options={"debiased": True}),
    ]


def register() -> None:
    register_dataset(
        DATASET, "https://github.com/cowleygroup/V4_compact_models/raw/main/data_V4_responses",
        resources.files(__package__).joinpath("cowley2023_v4.sha256"),
        citation="Cowley, Stan, Pillow & Smith (2023). Compact deep neural network models of visual cortex. "
                 "bioRxiv 2023.11.",
        licence="GPL-3.0",
        description="Macaque V4 Utah-array spike counts (100 ms) to natural and synthetic images, 48 sessions.")
    for session in sessions_with_images():
        register_stimulus_set(f"cowley2023_v4-{session}", partial(_load, session))
        for bench in session_benchmarks(session):
            register_benchmark(bench)
    for train, test in (("natural", "synthetic"), ("synthetic", "natural")):
        register_benchmark(Benchmark(
            f"cowley2023.210322.ood.{train}_to_{test}", "ood", "V4", "cowley2023_v4-210322",
            f"Fit on {train}, test on {test}: the same 59 V4 neurons on 600 + 600 images (Ren & Bashivan 2024).",
            {"split": "label", "column": "family", "train": train, "test": test}))
    register_benchmark(Benchmark("cowley2023.190923.ood.luminance", "ood", "V4", "cowley2023_v4-190923",
                                 "Fit on the darker half of the images, test on the brighter half.",
                                 {"split": "statistic", "statistic": "luminance", "direction": "low_to_high"}))
    register_benchmark(Benchmark("cowley2023.190923.ood.clusters", "ood", "V4", "cowley2023_v4-190923",
                                 "Hold out whole k-means clusters of pixel space (2 of 8).",
                                 {"split": "clusters", "n_clusters": 8, "n_held_out": 2}))
