"""Kriegeskorte et al. (2008) 92-object set: images, category flags, IT and behavioural RDMs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.io as sio
import xarray as xr

from ...data.rdms import make_rdms
from ...data.registry import fetch, get_dataset
from ...data.stimuli import StimulusSet

DATASET = "kriegeskorte2008_92"
FLAGS = ("human", "face", "animal", "natural")


def _text(x) -> str:
    return str(np.asarray(x).ravel()[0]) if np.asarray(x).size else ""


def load_kriegeskorte92() -> tuple[dict[str, xr.DataArray], StimulusSet]:
    """Return ``(rdms, stimuli)``.

    ``rdms`` holds RDM sets over the 92 stimulus ids: ``monkey_it`` (674 neurons,
    Kiani et al. 2007), ``human_it`` (fMRI, 316 voxels, the paper's Fig. 1),
    ``human_it_subjects`` (4 subjects × 2 sessions, coords ``subject``/``session``:
    the basis of the RSA noise ceiling) and ``behaviour`` (16 subjects' judgements).
    """
    ds = get_dataset(DATASET)
    sup = sio.loadmat(fetch(DATASET, "Kriegeskorte_Neuron2008_supplementalData.mat"))
    stim = sup["stimuli_92objs"][0]
    ids = [f"k92-{i:02d}" for i in range(len(stim))]
    images = np.stack([s["image"] for s in stim]).astype(np.uint8)
    meta = pd.DataFrame(
        {"category": [_text(s["category"]) for s in stim],
         **{f: [int(np.asarray(s[f]).ravel()[0]) for s in stim] for f in FLAGS}},
        index=pd.Index(ids, name="stimulus_id"),
    )
    labels = [_text(c) for c in sup["categoryLabels"][0]]
    for j, label in enumerate(labels):
        meta[f"cat_{label}"] = sup["categoryVectors"][:, j].astype(int)
    stimuli = StimulusSet.from_arrays(images, ids, DATASET, metadata=meta)

    attrs = {"dataset": DATASET, "citation": ds.citation}
    fig1 = sup["RDMs_mIT_hIT_fig1"][0]
    rdms = {
        f"{species}_it": make_rdms(np.asarray(fig1[i]["RDM"], float).ravel(), ids,
                                   rdm_coords={"name": [_text(fig1[i]["name"])], "region": ["IT"], "species": [species]},
                                   attrs=attrs, name=f"{species}_it")
        for i, species in enumerate(("monkey", "human"))  # the order of the file's figure 1
    }
    brain = sio.loadmat(fetch(DATASET, "92_brainRDMs.mat"))["RDMs"][0]  # (subject, session)
    values, subj, sess, names = [], [], [], []
    for i in range(brain.shape[0]):
        for j in range(brain.shape[1]):
            values.append(np.asarray(brain[i, j]["RDM"], float))
            names.append(_text(brain[i, j]["name"]))
            subj.append(names[-1].split("|")[1].strip() if "|" in names[-1] else f"s{i + 1}")
            sess.append(j + 1)
    rdms["human_it_subjects"] = make_rdms(np.stack(values), ids,
                                          rdm_coords={"subject": subj, "session": sess, "name": names},
                                          attrs=attrs, name="human_it_subjects")
    behav = sio.loadmat(fetch(DATASET, "92_behavRDMs.mat"))["rdms_behav_92"][0]
    rdms["behaviour"] = make_rdms(np.stack([np.asarray(b["RDM"], float) for b in behav]), ids,
                                  rdm_coords={"subject": [f"b{k + 1:02d}" for k in range(len(behav))],
                                              "name": [_text(b["name"]) for b in behav]},
                                  attrs=attrs, name="behaviour")
    return rdms, stimuli
