import math

import pytest
import torch

from polymodal.losses.projection import ProjectionLoss, projection_loss

PRED = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
TARGET = torch.tensor([[2.0, 0.0], [1.0, 0.0], [0.0, -1.0]])


def test_cosine_loss_matches_a_hand_computation() -> None:
    # cosines: 1, 1/sqrt(2), -1 -> losses 0, 1 - 1/sqrt(2), 2
    expected = (0.0 + (1 - 1 / math.sqrt(2)) + 2.0) / 3
    assert float(projection_loss(PRED, TARGET, "cosine")) == pytest.approx(expected, abs=1e-6)


def test_mse_loss_and_mask() -> None:
    # squared differences per row: (1 + 0) / 2, (0 + 1) / 2, (0 + 9) / 2
    assert float(projection_loss(PRED, TARGET, "mse")) == pytest.approx((0.5 + 0.5 + 4.5) / 3)
    mask = torch.tensor([True, False, True])
    assert float(projection_loss(PRED, TARGET, "mse", mask)) == pytest.approx((0.5 + 4.5) / 2)
    assert float(projection_loss(PRED, TARGET, "mse", torch.zeros(3, dtype=torch.bool))) == 0.0


def test_module_reports_the_mean_cosine() -> None:
    out = ProjectionLoss("mse")(PRED, TARGET)
    assert float(out.components["cosine"]) == pytest.approx((1 + 1 / math.sqrt(2) - 1) / 3, abs=1e-6)


def test_bad_metric_and_shapes_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown projection metric 'l1'; choose one of cosine, mse"):
        ProjectionLoss("l1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown projection metric 'l1'"):
        projection_loss(PRED, TARGET, "l1")
    with pytest.raises(ValueError, match=r"two \[B, D\] tensors of the same shape; got \[3, 2\] and \[3, 3\]"):
        projection_loss(PRED, torch.zeros(3, 3))
