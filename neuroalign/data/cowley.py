"""Old import path of :mod:`neuroalign.datasets.cowley` (the built-in dataset folders moved
there); the same module object, so patches and registrations are shared."""

import sys

from ..datasets import cowley as _moved

sys.modules[__name__] = _moved
