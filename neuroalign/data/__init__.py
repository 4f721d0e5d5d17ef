"""Data types (assemblies, stimulus sets, RDMs) and the dataset download registry; the built-in
datasets themselves are folders of :mod:`neuroalign.datasets`."""

from .assembly import (align_on_stimulus_id, average_repetitions, load_assembly, make_assembly,
                       save_assembly, select_stimuli, trials_array, validate_assembly)
from .rdms import make_rdms, upper_triangle
from .registry import data_dir, fetch
from .stimuli import StimulusSet

__all__ = [
    "StimulusSet", "align_on_stimulus_id", "average_repetitions", "data_dir", "fetch", "load_assembly",
    "make_assembly", "make_rdms", "save_assembly", "select_stimuli", "trials_array",
    "upper_triangle", "validate_assembly",
]
