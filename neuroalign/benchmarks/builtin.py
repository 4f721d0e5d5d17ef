"""The built-in benchmarks: the synthetic checks, every Cowley V4 session with images
upstream, and the 92-object set. Registered through the same calls a plugin uses."""

from __future__ import annotations

from functools import partial

from . import Benchmark, register, register_stimulus_set


def _synthetic():
    from ..data.synthetic import load_synthetic

    return load_synthetic()


def _kriegeskorte():
    from ..data.kriegeskorte import load_kriegeskorte92

    return load_kriegeskorte92()


def _cowley(session: str):
    from ..data.cowley import load_cowley

    return load_cowley(session)


def cowley_sessions_with_images() -> list[str]:
    """Sessions whose images are in the manifest (a few have responses but no images upstream)."""
    from ..data.cowley import DATASET, sessions
    from ..data.registry import get_dataset

    files = get_dataset(DATASET).files
    return [s for s in sessions() if f"images/images_{s}.zip" in files]


def _cowley_benchmarks(session: str) -> list[Benchmark]:
    from ..data.cowley import DATASET
    from ..data.registry import get_dataset

    files = get_dataset(DATASET).files
    raw = f"responses_raw/responses_{session}.npy" in files
    # the least it needs: images and averaged responses; single trials (and so a ceiling) where present
    needs = ((DATASET, f"images/images_{session}.zip"), (DATASET, f"responses_repeat_averaged/responses_{session}.npy"))
    sset = f"cowley2023_v4-{session}"
    what = ("single trials where responses_raw is present (ceilings), else repeat-averaged responses (no ceiling)"
            if raw else "repeat-averaged responses (no ceiling)")
    mk = partial(Benchmark, region="V4", stimulus_set=sset, files=needs)
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


def register_all() -> None:
    register_stimulus_set("synthetic", _synthetic)
    register_stimulus_set("kriegeskorte2008_92", _kriegeskorte)
    register(Benchmark("synthetic.encoding", "encoding", "synthetic", "synthetic",
                       "Simulated neurons (fixed readout of ReferenceNet.block2 + trial noise): known ceiling and "
                       "generator.", {"n_splits": 5}))
    register(Benchmark("synthetic.pls", "pls", "synthetic", "synthetic",
                       "Synthetic benchmark under Brain-Score's PLS protocol (25 components, 10 × 90/10 splits)."))
    for session in cowley_sessions_with_images():
        register_stimulus_set(f"cowley2023_v4-{session}", partial(_cowley, session))
        for bench in _cowley_benchmarks(session):
            register(bench)
    k92 = (("kriegeskorte2008_92", "Kriegeskorte_Neuron2008_supplementalData.mat"),
           ("kriegeskorte2008_92", "92_brainRDMs.mat"), ("kriegeskorte2008_92", "92_behavRDMs.mat"))
    for key, region, desc in (("human_it", "IT", "human IT (fMRI), ceiling from 4 subjects × 2 sessions"),
                              ("monkey_it", "IT", "monkey IT (674 neurons, Kiani et al. 2007)"),
                              ("behaviour", "behaviour", "16 subjects' similarity judgements")):
        rdms = "human_it_subjects" if key == "human_it" else key
        register(Benchmark(f"kriegeskorte2008.{key}.rsa", "rsa", region, "kriegeskorte2008_92",
                           f"92 objects: model RDM vs {desc}; Spearman, stimulus bootstrap.",
                           {"rdms": rdms, "method": "spearman"}, files=k92))
    for prefix, region, sset, families, what in (
            ("synthetic", "synthetic", "synthetic", ("gratings", "blobs"), "known ceiling"),
            ("cowley2023.210322", "V4", "cowley2023_v4-210322", ("natural", "synthetic"),
             "the same 59 V4 neurons on 600 + 600 images (Ren & Bashivan 2024)")):
        for train, test in (families, families[::-1]):
            register(Benchmark(f"{prefix}.ood.{train}_to_{test}", "ood", region, sset,
                               f"Fit on {train}, test on {test}: {what}.",
                               {"split": "label", "column": "family", "train": train, "test": test}))
    register(Benchmark("cowley2023.190923.ood.luminance", "ood", "V4", "cowley2023_v4-190923",
                       "Fit on the darker half of the images, test on the brighter half.",
                       {"split": "statistic", "statistic": "luminance", "direction": "low_to_high"}))
    register(Benchmark("cowley2023.190923.ood.clusters", "ood", "V4", "cowley2023_v4-190923",
                       "Hold out whole k-means clusters of pixel space (2 of 8).",
                       {"split": "clusters", "n_clusters": 8, "n_held_out": 2}))
