from __future__ import annotations

import pytest
import torch

from polymodal.encoders.layers import masked_mean
from polymodal.fusion.base import masked_softmax, stack_masks, zero_missing
from polymodal.fusion.concat import ConcatFusion


def test_masked_softmax_renormalises_over_present_entries() -> None:
    logits = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 9.0], [1.0, 1.0, 1.0]])
    mask = torch.tensor([[True, True, True], [True, True, False], [False, False, False]])
    weights = masked_softmax(logits, mask)
    torch.testing.assert_close(weights[0], torch.softmax(logits[0], 0))
    torch.testing.assert_close(weights[1], torch.tensor([0.5, 0.5, 0.0]))
    torch.testing.assert_close(weights[2], torch.zeros(3))


def test_masked_softmax_gradient_is_finite_when_nothing_is_present() -> None:
    logits = torch.randn(2, 3, requires_grad=True)
    masked_softmax(logits, torch.tensor([[False] * 3, [True, False, True]])).square().sum().backward()
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()
    assert torch.all(logits.grad[0] == 0)


def test_zero_missing_removes_even_nan() -> None:
    x = torch.tensor([[1.0, 2.0], [float("nan"), 3.0]])
    torch.testing.assert_close(zero_missing(x, torch.tensor([True, False])), torch.tensor([[1.0, 2.0], [0.0, 0.0]]))


def test_stack_masks_and_masked_mean() -> None:
    masks = {"b": torch.tensor([1, 0]), "a": torch.tensor([1, 1])}
    stacked = stack_masks(masks, ["a", "b"], torch.zeros(1))
    assert stacked.dtype == torch.bool
    assert stacked.tolist() == [[True, True], [True, False]]
    values = torch.tensor([[[1.0], [3.0]], [[5.0], [100.0]]])
    torch.testing.assert_close(masked_mean(values, stacked), torch.tensor([[2.0], [5.0]]))


def test_contract_errors_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="input_dims is empty"):
        ConcatFusion({})
    with pytest.raises(ValueError, match="modality 'a' has feature size 0"):
        ConcatFusion({"a": 0})
    fusion = ConcatFusion({"a": 2, "b": 3})
    on = torch.ones(1, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"features for modalities \['b'\] are missing"):
        fusion({"a": torch.ones(1, 2)}, {"a": on, "b": on})
    with pytest.raises(ValueError, match=r"modality 'b': expected features \[B, 3\], got \[1, 4\]"):
        fusion({"a": torch.ones(1, 2), "b": torch.ones(1, 4)}, {"a": on, "b": on})
