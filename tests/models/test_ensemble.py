"""``EnsembleModel``: members' probabilities averaged until the stacked meta-model is fitted, then combined by it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from polymodal.fusion.linear_fit import fit_linear
from polymodal.models.ensemble import EnsembleModel


class Fixed(nn.Module):
    """A member that returns the logits it was given (one row per input row)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("out", logits)

    def forward(self, inputs, masks):  # type: ignore[no-untyped-def]
        return {"y": self.out[inputs["i"]]}

    def embed(self, inputs, masks):  # type: ignore[no-untyped-def]
        return self.out[inputs["i"]]


def _members(n: int = 40, k: int = 3) -> tuple[dict[str, nn.Module], torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, k, (n,), generator=g)
    good = torch.nn.functional.one_hot(y, k).float() * 3 + torch.randn(n, k, generator=g)
    noise = torch.randn(n, k, generator=g)
    return {"good": Fixed(good), "noise": Fixed(noise)}, good, noise


def test_unfitted_ensemble_averages_the_members_probabilities() -> None:
    members, good, noise = _members()
    model = EnsembleModel(members, {"y": ("multiclass", 3)})
    i = {"i": torch.arange(40)}
    expected = (good.softmax(-1) + noise.softmax(-1)) / 2
    assert torch.allclose(model(i, {})["y"].softmax(-1), expected, atol=1e-6)
    assert model.embed(i, {}).shape == (40, 6)


def test_fitted_combiner_is_the_stacking_meta_model_over_member_probabilities() -> None:
    members, good, noise = _members()
    model = EnsembleModel(members, {"y": ("multiclass", 3)})
    y = good.argmax(-1)  # the good member is right, the noise member is not
    stacked = torch.stack([good.softmax(-1), noise.softmax(-1)], dim=1)
    model.fit_combiner({"y": stacked}, {"y": y})
    w, b = fit_linear(stacked.flatten(1), y, "softmax", 3)
    logits = model({"i": torch.arange(40)}, {})["y"]
    assert torch.allclose(logits, (stacked.flatten(1).double() @ w.T + b).float(), atol=1e-5)
    assert bool(model.fitted) and (logits.argmax(-1) == y).all()
    # the meta-model leans on the member that is right
    weight = model.combiners["y"].weight.abs()
    assert weight[:, :3].sum() > weight[:, 3:].sum()


def test_an_ensemble_needs_two_members() -> None:
    members, _, _ = _members()
    with pytest.raises(ValueError, match="at least two members, got 1"):
        EnsembleModel({"good": members["good"]}, {"y": ("multiclass", 3)})
