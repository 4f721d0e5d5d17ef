"""Decode and preprocess stimuli in DataLoader workers, in stimulus-set order."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from ..data.stimuli import StimulusSet


class StimulusDataset(Dataset):
    """Item ``i`` is stimulus ``i`` decoded by ``StimulusSet.load_image`` (corrupt or non-RGB
    images raise DataError naming the file) and passed through ``transform``."""

    def __init__(self, stimuli: StimulusSet, transform, ids: list[str] | None = None) -> None:
        self.stimuli = stimuli
        self.transform = transform
        self.ids = list(stimuli.stimulus_ids if ids is None else ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(self.stimuli.load_image(self.ids[i]))


def make_loader(stimuli: StimulusSet, transform, *, batch_size: int, num_workers: int = 0,
                pin_memory: bool = False, ids: list[str] | None = None) -> DataLoader:
    return DataLoader(StimulusDataset(stimuli, transform, ids), batch_size=batch_size, shuffle=False,
                      num_workers=num_workers, pin_memory=pin_memory,
                      persistent_workers=False, prefetch_factor=2 if num_workers > 0 else None)
