"""The one ridge every score in the package uses: one alpha grid, one feature-scaling rule.

Encoding, OOD, the scaling law and the fine-tuning evaluation all build their ridge
here, so a number from one is comparable with a number from another: 21 alphas
``10^-3 … 10^7`` searched per target by GCV, on features divided by the RMS standard
deviation of the *training* rows (:class:`RidgeCV` ``feature_scale="rms"``; the test rows
never set the scale).
"""

from __future__ import annotations

import numpy as np

from .ridge import RidgeCV

ALPHAS = tuple(np.logspace(-3, 7, 21).tolist())
FEATURE_SCALE = "rms"


def default_ridge(*, device="auto", cv="gcv", dtype="float32", **params) -> RidgeCV:
    """``RidgeCV`` with the package's alpha grid and feature scaling; ``params`` override the rest."""
    return RidgeCV(alphas=ALPHAS, cv=cv, alpha_per_target=True, dtype=dtype, device=device,
                   feature_scale=FEATURE_SCALE, **params)
