from __future__ import annotations

import pytest
import torch

from polymodal.fusion.base import ACTIVATIONS
from polymodal.fusion.late_mean import MeanLateFusion, to_probabilities
from polymodal.fusion.late_weighted import WeightedLateFusion

DIMS = {"image": 4, "audio": 3, "text": 2}
PRESENT = torch.tensor([[True, True, True], [True, False, True], [False, False, True]])


def batch() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    features = {m: torch.randn(3, d, generator=gen) for m, d in DIMS.items()}
    return features, {m: PRESENT[:, i] for i, m in enumerate(DIMS)}


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_equal_weights_equal_mean_late_fusion(activation: str) -> None:
    torch.manual_seed(0)
    weighted = WeightedLateFusion(DIMS, num_outputs=3, activation=activation)
    mean = MeanLateFusion(DIMS, num_outputs=3, activation=activation)
    mean.heads.load_state_dict(weighted.heads.state_dict())
    features, masks = batch()
    out = weighted(features, masks)
    torch.testing.assert_close(out, mean(features, masks))
    assert weighted.modality_weights() == pytest.approx({"audio": 1 / 3, "image": 1 / 3, "text": 1 / 3})


def test_weights_are_renormalised_over_present_modalities() -> None:
    torch.manual_seed(0)
    fusion = WeightedLateFusion(DIMS, num_outputs=2, activation="identity")
    with torch.no_grad():
        fusion.weight_logits.copy_(torch.log(torch.tensor([1.0, 2.0, 5.0])))  # audio, image, text
    features, masks = batch()
    preds = {m: fusion.heads[m](features[m]) for m in DIMS}
    out = fusion(features, masks)
    torch.testing.assert_close(out[0], (preds["audio"][0] + 2 * preds["image"][0] + 5 * preds["text"][0]) / 8)
    torch.testing.assert_close(out[1], (2 * preds["image"][1] + 5 * preds["text"][1]) / 7)
    torch.testing.assert_close(out[2], preds["text"][2])


def test_softmax_output_is_the_log_of_the_weighted_probabilities() -> None:
    torch.manual_seed(0)
    fusion = WeightedLateFusion({"a": 2, "b": 2}, num_outputs=3)
    with torch.no_grad():
        fusion.weight_logits.copy_(torch.log(torch.tensor([1.0, 3.0])))
    x = {"a": torch.randn(4, 2), "b": torch.randn(4, 2)}
    on = torch.ones(4, dtype=torch.bool)
    pa, pb = (to_probabilities(fusion.heads[m](x[m]), "softmax") for m in ("a", "b"))
    torch.testing.assert_close(torch.softmax(fusion(x, {"a": on, "b": on}), -1), (pa + 3 * pb) / 4)
