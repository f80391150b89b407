from __future__ import annotations

import pytest
import torch

from polymodal.fusion.late_stacking import StackingLateFusion

DIMS = {"image": 4, "audio": 3}


def batch() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    features = {m: torch.randn(3, d) for m, d in DIMS.items()}
    return features, {"image": torch.tensor([True, False, True]), "audio": torch.tensor([True, True, False])}


def test_the_heads_get_no_gradient_from_the_meta_model() -> None:
    torch.manual_seed(0)
    fusion = StackingLateFusion(DIMS, num_outputs=2)
    fusion(*batch()).square().sum().backward()
    assert all(p.grad is None for p in fusion.heads.parameters())
    assert all(p.grad is not None for p in fusion.meta.parameters())


def test_auxiliary_logits_are_the_heads_logits_in_sorted_order() -> None:
    torch.manual_seed(0)
    fusion = StackingLateFusion(DIMS, num_outputs=2)
    features, _ = batch()
    logits = fusion.auxiliary_logits(features)
    assert logits.shape == (3, 2, 2)
    torch.testing.assert_close(logits[:, 0], fusion.heads["audio"](features["audio"]))
    torch.testing.assert_close(logits[:, 1], fusion.heads["image"](features["image"]))
    logits.sum().backward()  # the heads' own loss does reach them
    assert all(p.grad is not None for p in fusion.heads.parameters())


def test_meta_inputs_are_zeroed_predictions_then_presence_indicators() -> None:
    torch.manual_seed(0)
    fusion = StackingLateFusion(DIMS, num_outputs=2)
    features, masks = batch()
    inputs = fusion.meta_inputs(features, masks)
    p_audio = torch.softmax(fusion.heads["audio"](features["audio"]), -1)
    p_image = torch.softmax(fusion.heads["image"](features["image"]), -1)
    torch.testing.assert_close(inputs[0], torch.cat([p_audio[0], p_image[0], torch.tensor([1.0, 1.0])]))
    torch.testing.assert_close(inputs[1], torch.cat([p_audio[1], torch.zeros(2), torch.tensor([1.0, 0.0])]))
    torch.testing.assert_close(inputs[2], torch.cat([torch.zeros(2), p_image[2], torch.tensor([0.0, 1.0])]))


def test_the_meta_model_learns_to_follow_the_informative_modality() -> None:
    """Heads trained on their own loss, meta-model on the fused one: it must beat chance by far."""
    torch.manual_seed(0)
    n = 256
    labels = torch.randint(0, 2, (n,))
    features = {"image": torch.randn(n, 4), "audio": torch.randn(n, 3)}
    features["image"][:, 0] += 3 * (2 * labels - 1)  # only the image carries the label
    on = torch.ones(n, dtype=torch.bool)
    masks = {"image": on, "audio": on}
    fusion = StackingLateFusion(DIMS, num_outputs=2)
    optimiser = torch.optim.Adam(fusion.parameters(), lr=0.05)
    for _ in range(100):
        optimiser.zero_grad()
        aux = fusion.auxiliary_logits(features)
        loss = torch.nn.functional.cross_entropy(fusion(features, masks), labels)
        loss = loss + sum(torch.nn.functional.cross_entropy(aux[:, m], labels) for m in range(2))
        loss.backward()
        optimiser.step()
    accuracy = (fusion(features, masks).argmax(-1) == labels).float().mean()
    assert accuracy > 0.9


def test_bad_hidden_dim_is_refused() -> None:
    with pytest.raises(ValueError, match="hidden_dim must be positive"):
        StackingLateFusion(DIMS, num_outputs=2, hidden_dim=0)
