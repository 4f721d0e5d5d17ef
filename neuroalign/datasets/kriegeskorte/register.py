"""Registers the 92-object set (Kriegeskorte et al. 2008): the dataset (manifest beside this
file), its stimulus set and the three RSA benchmarks."""

from __future__ import annotations

from importlib import resources

from ...benchmarks import Benchmark, register as register_benchmark, register_stimulus_set
from ...data.registry import register_dataset

DATASET = "kriegeskorte2008_92"


def _load():
    from . import load_kriegeskorte92

    return load_kriegeskorte92()


def register() -> None:
    register_dataset(
        DATASET, "https://github.com/rsagroup/rsatoolbox/raw/main/demos/92imageData",
        resources.files(__package__).joinpath("kriegeskorte2008_92.sha256"),
        citation="Kriegeskorte et al. (2008). Matching categorical object representations in inferior temporal "
                 "cortex of man and monkey. Neuron 60.",
        licence="MIT (repository); images for research use",
        description="92 object images with monkey-IT, human-IT (4 subjects x 2 sessions) and behavioural RDMs.")
    register_stimulus_set(DATASET, _load)
    files = tuple((DATASET, f) for f in ("Kriegeskorte_Neuron2008_supplementalData.mat", "92_brainRDMs.mat",
                                         "92_behavRDMs.mat"))
    for key, region, desc in (("human_it", "IT", "human IT (fMRI), ceiling from 4 subjects × 2 sessions"),
                              ("monkey_it", "IT", "monkey IT (674 neurons, Kiani et al. 2007)"),
                              ("behaviour", "behaviour", "16 subjects' similarity judgements")):
        rdms = "human_it_subjects" if key == "human_it" else key
        register_benchmark(Benchmark(f"kriegeskorte2008.{key}.rsa", "rsa", region, DATASET,
                                     f"92 objects: model RDM vs {desc}; Spearman, stimulus bootstrap.",
                                     {"rdms": rdms, "method": "spearman"}, files=files))
