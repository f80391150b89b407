"""Encoded data as tensors, a torch Dataset over it, and the batch layout every model receives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

Batch = tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]]


@dataclass
class EncodedData:
    """Every modality's batch tensor, its presence mask, and the encoded targets (may be empty)."""

    inputs: dict[str, Tensor]
    masks: dict[str, Tensor]
    targets: dict[str, Tensor]
    rows: np.ndarray  # position of each sample in the user's table

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, index: np.ndarray | Tensor) -> EncodedData:
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return EncodedData(
            {k: v[idx] for k, v in self.inputs.items()},
            {k: v[idx] for k, v in self.masks.items()},
            {k: v[idx] for k, v in self.targets.items()},
            self.rows[idx.numpy()],
        )

    def with_masks(self, masks: Mapping[str, Tensor]) -> EncodedData:
        """The same data with some masks replaced (e.g. a modality made missing for evaluation)."""
        return EncodedData(self.inputs, {**self.masks, **masks}, self.targets, self.rows)


class EncodedDataset(Dataset[Batch]):
    """Items are ``(inputs, masks, targets)`` dicts; the default collate stacks them into batches."""

    def __init__(self, data: EncodedData) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> Batch:
        d = self.data
        return (
            {k: v[i] for k, v in d.inputs.items()},
            {k: v[i] for k, v in d.masks.items()},
            {k: v[i] for k, v in d.targets.items()},
        )
