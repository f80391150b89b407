"""Encoded data as tensors, a torch Dataset over it, and the batch layout every model receives."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, default_collate

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
    """Items are ``(inputs, masks, targets)`` dicts; the default collate stacks them into batches.

    :meth:`__getitems__` (which a ``DataLoader`` calls with a batch's indices) returns those items as
    one :class:`BatchItems`: the default collate stacks it item by item as before, and
    :func:`collate_batch` takes the whole batch by tensor indexing instead, many times faster for
    large batches.
    """

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

    def __getitems__(self, indices: list[int]) -> BatchItems:
        return BatchItems(self.data, indices)


class BatchItems(Sequence[Batch]):
    """A batch's items, not yet gathered: a sequence of per-sample items (what the default collate
    expects) that :func:`collate_batch` gathers with one indexing per tensor."""

    def __init__(self, data: EncodedData, indices: list[int]) -> None:
        self.data, self.indices = data, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    @overload
    def __getitem__(self, i: int) -> Batch: ...

    @overload
    def __getitem__(self, i: slice) -> list[Batch]: ...

    def __getitem__(self, i: int | slice) -> Batch | list[Batch]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return EncodedDataset(self.data)[self.indices[i]]


def collate_batch(items: Sequence[Batch]) -> Batch:
    """The batch of ``items``: one tensor indexing per modality for :class:`BatchItems`, else the default collate."""
    if not isinstance(items, BatchItems):
        collated: Batch = default_collate(list(items))
        return collated
    d, idx = items.data, torch.as_tensor(items.indices, dtype=torch.long)
    return ({k: v[idx] for k, v in d.inputs.items()}, {k: v[idx] for k, v in d.masks.items()},
            {k: v[idx] for k, v in d.targets.items()})
