"""The benchmark registry: data + metric + ceiling + split protocol + region, by identifier.

A benchmark names its stimulus set (``stimulus_set``) so that activations are
extracted once per model and stimulus set and shared by every benchmark using them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from .errors import unknown

KINDS = ("encoding", "pls", "rsa", "cka", "ood")


@dataclass(frozen=True)
class Benchmark:
    identifier: str
    kind: str
    region: str
    stimulus_set: str
    description: str
    options: dict = field(default_factory=dict, hash=False, compare=False)

    def load(self):
        """The benchmark's neural data: an assembly, or a dict of RDM sets for RSA."""
        return load_neural(self.stimulus_set, self.options.get("rdms"))


def load_stimulus_set(name: str):
    """A stimulus set by the name benchmarks use, or an image folder / zip path of your own."""
    from pathlib import Path

    path = Path(name)
    if path.suffix == ".zip" or path.is_dir():
        from .data.stimuli import StimulusSet

        return StimulusSet.from_zip(path) if path.suffix == ".zip" else StimulusSet.from_folder(path)
    return _load(name)[1]


def load_neural(name: str, rdms: str | None = None):
    data = _load(name)[0]
    if isinstance(data, dict):
        if rdms is None:
            raise ValueError(f"stimulus set {name!r} holds RDMs; name which one")
        return data[rdms]
    return data


@lru_cache(maxsize=8)
def _load(name: str):
    if name == "synthetic":
        from .data.synthetic import load_synthetic

        return load_synthetic()
    if name == "kriegeskorte2008_92":
        from .data.kriegeskorte import load_kriegeskorte92

        return load_kriegeskorte92()
    if name.startswith("cowley2023_v4-"):
        from .data.cowley import load_cowley

        return load_cowley(name.split("-", 1)[1])
    raise unknown("stimulus set", name, ["synthetic", "kriegeskorte2008_92", "cowley2023_v4-<session>"],
                  hint="Or give the path of an image folder or a zip of images.")


def _build() -> dict[str, Benchmark]:
    b: list[Benchmark] = []
    add = b.append
    add(Benchmark("synthetic.encoding", "encoding", "synthetic", "synthetic",
                  "Simulated neurons (fixed readout of ReferenceNet.block2 + trial noise): known ceiling and generator.",
                  {"n_splits": 5}))
    add(Benchmark("synthetic.pls", "pls", "synthetic", "synthetic",
                  "Synthetic benchmark under Brain-Score's PLS protocol (25 components, 10 × 90/10 splits)."))
    for session, what in (("210325", "640 synthetic-object images, single trials (ceiling)"),
                          ("190923", "1200 natural images, repeat-averaged (no ceiling)")):
        sset = f"cowley2023_v4-{session}"
        add(Benchmark(f"cowley2023.{session}.encoding", "encoding", "V4", sset,
                      f"Cowley et al. 2023 V4 session {session}: {what}; cross-validated ridge.", {"n_splits": 5}))
        add(Benchmark(f"cowley2023.{session}.pls", "pls", "V4", sset,
                      f"Cowley V4 session {session} under Brain-Score's PLS protocol."))
        add(Benchmark(f"cowley2023.{session}.rsa", "rsa", "V4", sset,
                      f"Cowley V4 session {session}: RDM of averaged responses vs model RDM (Spearman).",
                      {"method": "spearman"}))
        add(Benchmark(f"cowley2023.{session}.cka", "cka", "V4", sset,
                      f"Cowley V4 session {session}: debiased linear CKA, averaged responses vs features.",
                      {"debiased": True}))
    for key, region, desc in (("human_it", "IT", "human IT (fMRI), ceiling from 4 subjects × 2 sessions"),
                              ("monkey_it", "IT", "monkey IT (674 neurons, Kiani et al. 2007)"),
                              ("behaviour", "behaviour", "16 subjects' similarity judgements")):
        rdms = "human_it_subjects" if key == "human_it" else key
        add(Benchmark(f"kriegeskorte2008.{key}.rsa", "rsa", region, "kriegeskorte2008_92",
                      f"92 objects: model RDM vs {desc}; Spearman, stimulus bootstrap.",
                      {"rdms": rdms, "method": "spearman"}))
    for prefix, region, sset, families, what in (
            ("synthetic", "synthetic", "synthetic", ("gratings", "blobs"), "known ceiling"),
            ("cowley2023.210322", "V4", "cowley2023_v4-210322", ("natural", "synthetic"),
             "the same 59 V4 neurons on 600 + 600 images (Ren & Bashivan 2024)")):
        for train, test in (families, families[::-1]):
            add(Benchmark(f"{prefix}.ood.{train}_to_{test}", "ood", region, sset,
                          f"Fit on {train}, test on {test}: {what}.",
                          {"split": "label", "column": "family", "train": train, "test": test}))
    add(Benchmark("cowley2023.190923.ood.luminance", "ood", "V4", "cowley2023_v4-190923",
                  "Fit on the darker half of the images, test on the brighter half.",
                  {"split": "statistic", "statistic": "luminance", "direction": "low_to_high"}))
    add(Benchmark("cowley2023.190923.ood.clusters", "ood", "V4", "cowley2023_v4-190923",
                  "Hold out whole k-means clusters of pixel space (2 of 8).",
                  {"split": "clusters", "n_clusters": 8, "n_held_out": 2}))
    return {x.identifier: x for x in b}


_REGISTRY = _build()


def benchmarks() -> dict[str, Benchmark]:
    return dict(_REGISTRY)


def get_benchmark(identifier: str) -> Benchmark:
    if identifier not in _REGISTRY:
        raise unknown("benchmark", identifier, _REGISTRY, hint="List them with `neuroalign benchmarks`.")
    return _REGISTRY[identifier]


def register(benchmark: Benchmark) -> None:
    """Add a user-defined benchmark (e.g. from a plugin)."""
    _REGISTRY[benchmark.identifier] = benchmark

