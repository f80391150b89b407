import numpy as np
import torch
from torch.utils.data import DataLoader, default_collate

from polymodal.data.dataset import BatchItems, EncodedData, EncodedDataset, collate_batch


def _data(n: int = 7) -> EncodedData:
    g = torch.Generator().manual_seed(0)
    return EncodedData({"img": torch.randn(n, 1, 2, 2, generator=g), "txt": torch.randint(0, 9, (n, 3), generator=g)},
                       {"img": torch.rand(n, generator=g) > 0.3, "txt": torch.ones(n, dtype=torch.bool)},
                       {"y": torch.arange(n)}, np.arange(n))


def _equal(a: tuple, b: tuple) -> bool:
    return all(x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) for x, y in zip(a, b, strict=True))


def test_collate_batch_gathers_the_same_batch_as_the_default_collate() -> None:
    dataset = EncodedDataset(_data())
    items = dataset.__getitems__([5, 0, 3])
    assert isinstance(items, BatchItems) and len(items) == 3 and len(items[1:]) == 2
    assert _equal(collate_batch(items), default_collate(list(items)))
    assert _equal(collate_batch([dataset[5], dataset[0]]), default_collate([dataset[5], dataset[0]]))


def test_loaders_with_either_collate_give_the_same_batches() -> None:
    dataset = EncodedDataset(_data())
    fast = DataLoader(dataset, batch_size=3, shuffle=True, generator=torch.Generator().manual_seed(1),
                      collate_fn=collate_batch)
    plain = DataLoader(dataset, batch_size=3, shuffle=True, generator=torch.Generator().manual_seed(1))
    batches = list(zip(fast, plain, strict=True))
    assert len(batches) == 3 and all(_equal(a, b) for a, b in batches)
