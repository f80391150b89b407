import torch

from polymodal.models.representation import masked_batch_mean, modality_mean, random_subsets


def test_modality_mean_averages_present_modalities_only() -> None:
    values = {"a": torch.tensor([[1.0], [1.0], [1.0]]), "b": torch.tensor([[3.0], [3.0], [3.0]])}
    masks = {"a": torch.tensor([True, True, False]), "b": torch.tensor([True, False, False])}
    assert modality_mean(values, masks).squeeze(1).tolist() == [2.0, 1.0, 0.0]
    assert float(masked_batch_mean(torch.tensor([1.0, 5.0, 9.0]), masks["a"])) == 3.0


def test_random_subsets_are_non_empty_subsets_of_the_present_modalities_and_uniform() -> None:
    n = 6000
    masks = {"a": torch.ones(n, dtype=torch.bool), "b": torch.ones(n, dtype=torch.bool),
             "c": torch.arange(n) % 3 != 0}
    masks["a"][:10] = masks["b"][:10] = masks["c"][:10] = False
    subsets = random_subsets(masks, generator=torch.Generator().manual_seed(0))
    kept = torch.stack([subsets[k] for k in "abc"], dim=1)
    present = torch.stack([masks[k] for k in "abc"], dim=1)
    assert not (kept & ~present).any()
    assert not kept[:10].any() and kept[10:].any(dim=1).all()
    # rows with a, b, c present: 7 non-empty subsets, each about 1/7
    full = present.all(dim=1)
    codes = (kept[full].long() * torch.tensor([1, 2, 4])).sum(dim=1)
    shares = torch.bincount(codes, minlength=8)[1:].float() / full.sum()
    assert torch.allclose(shares, torch.full((7,), 1 / 7), atol=0.03)
