"""Cowley et al. (2023) macaque V4 sessions: responses + images, read through the registry."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from ...errors import DataError, DatasetUnavailableError, unknown
from ..assembly import make_assembly
from ..registry import fetch, get_dataset
from ..stimuli import StimulusSet

DATASET = "cowley2023_v4"

# Image families whose column ranges the data's authors state (1-based, inclusive).
FAMILIES: dict[str, list[tuple[int, int, str]]] = {
    "210322": [(1, 600, "natural"), (601, 1200, "synthetic")],
}
STIMULUS_DURATION_S = 0.1  # each image flashed for 100 ms (source: see load_cowley's attrs)
INTERSTIMULUS_INTERVAL_S = 0.1  # then 100 ms of blank screen
ANIMALS = {"1909": "WE", "2010": "PE", "2102": "PE", "2103": "PE", "2106": "RA", "2110": "RA", "2111": "RA"}


def sessions() -> list[str]:
    """Every upstream session with registered responses (a few have no images upstream)."""
    files = get_dataset(DATASET).files
    return sorted(m.group(1) for f in files if (m := re.match(r"responses_repeat_averaged/responses_(\d+)\.npy$", f)))


#: Presentation timing, for recording time (neuroalign.scaling.presentation_period).
TIMING_ATTRS = {
    # NOT VERIFIED: the upstream readme (data_V4_responses/readme.txt) gives only the
    # 100 ms counting bin. The 100 ms flash + 100 ms blank is as remembered from the
    # paper's Methods (Cowley, Stan, Pillow & Smith 2023, bioRxiv 10.1101/2023.11.22.568315;
    # Nature 2026, 10.1038/s41586-026-10150-1); issue 27's search of the stored copies
    # (PMC10690296, the Nature page, cowleygroup/V4_compact_models) reached only the
    # abstract, not the Methods text. Override with `neuroalign scaling
    # --stimulus-duration-s / --interstimulus-s` or the workflow config.
    "timing_source": "unverified: 100 ms counting bin from the upstream readme; 100 ms flash + 100 ms "
                     "blank as remembered from Cowley et al. 2023 Methods (not found in the stored text)",
    "stimulus_duration_s": STIMULUS_DURATION_S,
    "interstimulus_interval_s": INTERSTIMULUS_INTERVAL_S,
}


def load_cowley(session: str, *, prefer_raw: bool = True) -> tuple[xr.DataArray, StimulusSet]:
    """Load one session as (assembly, stimulus set).

    Single trials come from ``responses_raw`` when that file is registered and present
    (NaN-padded unused repeats are dropped, never averaged in); otherwise the
    repeat-averaged file is used and the assembly's ``responses_kind`` attr says so.
    Identical images (same JPEG bytes) share the ``stimulus_id`` of their first column,
    so repeated columns become repetitions of one stimulus.
    """
    session = str(session)
    known = sessions()
    if session not in known:
        raise unknown("Cowley session", session, known)
    ds = get_dataset(DATASET)
    if f"images/images_{session}.zip" not in ds.files:
        raise DataError(
            f"Cowley session {session} has responses but no images upstream, so no model can be scored on it; "
            f"sessions with images: {', '.join(s for s in known if f'images/images_{s}.zip' in ds.files)}."
        )
    stimuli, col_ids, family, n_img = _session_stimuli(session)
    values, img_idx, kind, n_neur = _session_responses(session, ds, prefer_raw)
    if max(img_idx) + 1 != n_img:
        raise ValueError(f"session {session}: responses cover {max(img_idx) + 1} images, the zip holds {n_img}.")
    assembly = make_assembly(
        values,
        stimulus_id=col_ids[img_idx],
        neuroid_id=[f"cowley-{session}-n{i:03d}" for i in range(n_neur)],
        region="V4",
        presentation_coords={"column": img_idx + 1, "family": family[img_idx].astype(str)},
        neuroid_coords={"session": [session] * n_neur, "animal": [ANIMALS.get(session[:4], "?")] * n_neur},
        attrs={
            "identifier": f"{DATASET}.{session}",
            "stimulus_set_identifier": stimuli.identifier,
            "responses_kind": kind,
            "units": "spike count per 100 ms",
            "citation": ds.citation,
            **TIMING_ATTRS,
        },
    )
    return assembly, stimuli


def _session_stimuli(session: str):
    """The session's images, identical JPEG bytes sharing the id of their first column:
    (stimulus set, per-column ids, per-column family, number of columns)."""
    zip_path = fetch(DATASET, f"images/images_{session}.zip")
    images = StimulusSet.from_zip(zip_path, identifier=f"{DATASET}-{session}")
    n_img = len(images)
    columns = np.array([int(re.search(r"(\d+)$", s).group(1)) for s in images.stimulus_ids])
    if not np.array_equal(np.sort(columns), np.arange(1, n_img + 1)):
        raise ValueError(f"{zip_path}: image names are not image0001..image{n_img:04d}.")
    order = np.argsort(columns)

    # Content-hash deduplication: each column gets the id of the first column with its bytes.
    hashes = images.image_hashes().to_numpy()[order]
    first_of = pd.Series(np.arange(n_img)).groupby(hashes).transform("min").to_numpy()
    col_ids = np.array([f"cowley-{session}-image{c + 1:04d}" for c in first_of])
    unique_cols = np.flatnonzero(first_of == np.arange(n_img))
    family = np.full(n_img, "unlabelled", dtype=object)
    for lo, hi, name in FAMILIES.get(session, []):
        family[lo - 1:hi] = name
    meta = pd.DataFrame(
        {"column": unique_cols + 1, "family": family[unique_cols], "sha256": hashes[unique_cols]},
        index=pd.Index(col_ids[unique_cols], name="stimulus_id"),
    )
    stimuli = StimulusSet(
        f"{DATASET}-{session}", list(col_ids[unique_cols]),
        [images.files[order[i]] for i in unique_cols], zip_path, meta,
    )
    return stimuli, col_ids, family, n_img


def _session_responses(session: str, ds, prefer_raw: bool):
    """(presentation × neuroid values, image column of each presentation, kind, neurons): single
    trials from ``responses_raw`` when present (NaN-padded repeats dropped), else the averages."""
    raw_rel = f"responses_raw/responses_{session}.npy"
    raw_path = None
    if prefer_raw and raw_rel in ds.files:
        try:
            raw_path = fetch(DATASET, raw_rel)
        except DatasetUnavailableError as exc:
            warnings.warn(f"single trials unavailable, using repeat-averaged responses: {exc}", stacklevel=3)
    if raw_path is not None:
        raw = np.load(raw_path)  # (neuron, image, repeat), NaN-padded
        kind = "raw"
        n_neur = raw.shape[0]
        valid = np.isfinite(raw).all(axis=0)  # (image, repeat): a repeat is real for all neurons
        img_idx, rep_idx = np.nonzero(valid)
        values = raw[:, img_idx, rep_idx].T
    else:
        avg = np.load(fetch(DATASET, f"responses_repeat_averaged/responses_{session}.npy"))
        kind = "repeat_averaged"
        n_neur = avg.shape[0]
        img_idx = np.arange(avg.shape[1])
        values = avg.T
    return values, img_idx, kind, n_neur

