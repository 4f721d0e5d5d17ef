"""Synthetic ground-truth benchmark: procedurally generated images and simulated neurons.

Each neuron's mean response is a fixed random linear readout of one layer of the seeded
:class:`~neuroalign.models.reference.ReferenceNet` (spatially averaged), plus Gaussian
trial noise at a set per-trial signal-to-noise ratio. Because signal and noise are
known, so is the noise ceiling: the reliability of the n-trial mean,
``var_signal / (var_signal + var_noise / n)``, which is what split-half correlation with
Spearman-Brown correction estimates. Needs no download; the default builds in about a second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ...data.assembly import make_assembly
from ...data.stimuli import StimulusSet

FAMILIES = ("gratings", "blobs")


@dataclass(frozen=True)
class SyntheticParams:
    n_images: int = 600  # split equally between the families
    n_neurons: int = 60
    n_repetitions: int = 10
    snr: float = 0.5  # per-trial signal variance / noise variance (median over neurons)
    snr_spread: float = 0.5  # sd of log(snr) across neurons
    layer: str = "block2"
    seed: int = 0
    image_size: int = 64
    network_seed: int = 0


def make_gratings(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Oriented sinusoidal gratings in random colours under a soft circular aperture."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size - 0.5
    theta = rng.uniform(0, np.pi, n)[:, None, None]
    freq = rng.uniform(2, 10, n)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    radius = rng.uniform(0.2, 0.5, n)[:, None, None]
    wave = np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
    aperture = 1 / (1 + np.exp((np.sqrt(xx**2 + yy**2) - radius) / 0.02))
    c1, c2, bg = (rng.uniform(0, 1, (n, 1, 1, 3)) for _ in range(3))
    mix = (wave[..., None] + 1) / 2
    fg = c1 * mix + c2 * (1 - mix)
    img = fg * aperture[..., None] + bg * (1 - aperture[..., None])
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def make_blobs(rng: np.random.Generator, n: int, size: int, n_blobs: int = 4) -> np.ndarray:
    """Coloured Gaussian blobs of random size and place on a noisy background."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    img = rng.uniform(0, 1, (n, 1, 1, 3)) * np.ones((n, size, size, 3))
    img += rng.normal(0, 0.05, img.shape)
    for _ in range(n_blobs):
        cx, cy = rng.uniform(0.1, 0.9, (2, n, 1, 1))
        sd = rng.uniform(0.04, 0.2, (n, 1, 1))
        w = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sd**2))[..., None]
        img = img * (1 - w) + rng.uniform(0, 1, (n, 1, 1, 3)) * w
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def make_images(params: SyntheticParams) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng([params.seed, 1])
    n_a = params.n_images // 2
    n_b = params.n_images - n_a
    images = np.concatenate([make_gratings(rng, n_a, params.image_size), make_blobs(rng, n_b, params.image_size)])
    family = np.array(["gratings"] * n_a + ["blobs"] * n_b)
    ids = [f"syn-{f[:4]}-{i:05d}" for i, f in enumerate(family)]
    meta = pd.DataFrame({"family": family}, index=pd.Index(ids, name="stimulus_id"))
    return images, meta


def _stimulus_set(images: np.ndarray, meta: pd.DataFrame) -> StimulusSet:
    return StimulusSet.from_arrays(images, meta.index.to_list(), "synthetic", metadata=meta)


def synthetic_stimuli(**overrides) -> StimulusSet:
    """The synthetic benchmark's images alone: no network run, no simulated neurons."""
    return _stimulus_set(*make_images(SyntheticParams(**overrides)))


def load_synthetic(**overrides) -> tuple[xr.DataArray, StimulusSet]:
    """Build the synthetic benchmark: (single-trial assembly, stimulus set).

    The assembly's ``true_ceiling`` neuroid coord holds each neuron's exact noise
    ceiling (reliability of its n-trial mean over these stimuli); attrs record the
    parameters and the median true ceiling.
    """
    from ...models.reference import build_reference_net, preprocess_uint8, reference_features  # torch: on use

    params = SyntheticParams(**overrides)
    images, meta = make_images(params)
    ids = meta.index.to_list()
    net = build_reference_net(params.network_seed)
    feats = reference_features(net, preprocess_uint8(images), params.layer).double().numpy()

    rng = np.random.default_rng([params.seed, 2])
    feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-12)
    weights = rng.normal(size=(feats.shape[1], params.n_neurons)) / np.sqrt(feats.shape[1])
    signal = feats @ weights
    signal = signal / signal.std(0)  # unit signal variance across these stimuli
    signal += rng.uniform(1.0, 3.0, params.n_neurons)  # baseline rate
    snr = params.snr * np.exp(rng.normal(0, params.snr_spread, params.n_neurons))
    noise_sd = np.sqrt(1.0 / snr)
    reps = params.n_repetitions
    noise = rng.normal(size=(params.n_images, reps, params.n_neurons)) * noise_sd
    trials = signal[:, None, :] + noise  # (stimulus, repetition, neuroid)
    true_ceiling = 1.0 / (1.0 + 1.0 / (snr * reps))

    values = trials.reshape(-1, params.n_neurons)
    assembly = make_assembly(
        values,
        stimulus_id=np.repeat(ids, reps),
        repetition=np.tile(np.arange(reps), params.n_images),
        neuroid_id=[f"syn{i:03d}" for i in range(params.n_neurons)],
        region="synthetic",
        presentation_coords={"family": np.repeat(meta["family"].to_numpy(), reps)},
        neuroid_coords={"true_ceiling": true_ceiling, "snr": snr},
        attrs={
            "identifier": "synthetic",
            "generator_layer": params.layer,
            "true_ceiling_median": float(np.median(true_ceiling)),
            "ceiling_definition": "reliability of the n-trial mean: var_s / (var_s + var_noise / n)",
            **{f"param_{k}": v for k, v in asdict(params).items()},
        },
    )
    return assembly, _stimulus_set(images, meta)
