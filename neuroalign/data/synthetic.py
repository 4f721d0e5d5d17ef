"""Old import path of :mod:`neuroalign.datasets.synthetic` (the built-in dataset folders moved
there); the same module object, so patches and registrations are shared."""

import sys

from ..datasets import synthetic as _moved

sys.modules[__name__] = _moved
