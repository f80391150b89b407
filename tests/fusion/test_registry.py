"""The fusion registry in ``polymodal/fusion/__init__.py``."""

from __future__ import annotations

import pytest
import torch

from polymodal.fusion import FUSIONS
from polymodal.fusion.base import Fusion
from polymodal.fusion.low_rank import LowRankFusion

EXPECTED = {
    "concat", "cross_attention", "early", "gated", "late", "late_stacking", "late_vote", "late_weighted",
    "low_rank", "sum", "tensor", "transformer",
}  # fmt: skip


def test_every_issue_fusion_is_registered_with_a_description() -> None:
    assert set(FUSIONS.names()) >= EXPECTED
    for entry in FUSIONS:
        assert entry.description
        assert isinstance(entry.factory, type)
        assert issubclass(entry.factory, Fusion)


def test_create_passes_keyword_arguments() -> None:
    fusion = FUSIONS.create("low_rank", input_dims={"image": 8, "audio": 4}, rank=4)
    assert isinstance(fusion, LowRankFusion)
    assert fusion.rank == 4
    assert fusion.factors["image"].shape == (4, 9, fusion.output_dim)


def test_late_fusions_take_outputs_and_activation() -> None:
    for name in ("late", "late_weighted", "late_stacking", "late_vote"):
        fusion = FUSIONS.create(name, input_dims={"a": 2}, num_outputs=5, activation="sigmoid")
        assert fusion.produces_predictions
        assert fusion.output_dim == 5


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown fusion 'lowrank'; known fusions: .*low_rank.*transformer"):
        FUSIONS.create("lowrank", input_dims={"a": 2})


def test_unknown_argument_lists_the_valid_ones() -> None:
    with pytest.raises(
        ValueError,
        match=r"unknown argument\(s\) ranks for fusion 'low_rank'; valid arguments: input_dims, output_dim, rank",
    ):
        FUSIONS.create("low_rank", input_dims={"a": 2}, ranks=4)


def test_a_created_fusion_runs() -> None:
    fusion = FUSIONS.create("gated", input_dims={"a": 2, "b": 3}, output_dim=5)
    on = torch.ones(2, dtype=torch.bool)
    assert fusion({"a": torch.randn(2, 2), "b": torch.randn(2, 3)}, {"a": on, "b": on}).shape == (2, 5)
