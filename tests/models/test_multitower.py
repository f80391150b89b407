"""Soft parameter sharing: towers per task tied by an L2 penalty or by cross-stitch units."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

import polymodal
from polymodal.config import ModelConfig
from polymodal.data.kinds import ModalityKind
from polymodal.data.schema import TaskKind
from polymodal.models import FusionModel, MultiTowerModel, build_model
from polymodal.models.multitower import cross_stitch, stitch_matrix

INFO = {"a": {"dim": 5}, "b": {"dim": 3}}
KINDS = {"a": ModalityKind.VECTOR, "b": ModalityKind.VECTOR}
TARGETS = {"y": ("multiclass", 3), "z": ("regression", 1)}
TASKS = {"y": TaskKind.MULTICLASS, "z": TaskKind.REGRESSION}


def batch(n: int = 6) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    inputs = {"a": torch.randn(n, 5, generator=g), "b": torch.randn(n, 3, generator=g)}
    masks = {"a": torch.ones(n, dtype=torch.bool), "b": torch.arange(n) % 2 == 0}
    targets = {"y": torch.arange(n) % 3, "z": torch.randn(n, 1, generator=g)}
    return inputs, masks, targets


def test_stitch_matrix_rows_sum_to_one() -> None:
    m = stitch_matrix(3, 0.8)
    assert torch.allclose(m.sum(dim=1), torch.ones(3))
    assert torch.allclose(torch.diagonal(m), torch.full((3,), 0.8))
    assert torch.allclose(m[0, 1], torch.tensor(0.1))


def test_cross_stitch_mixes_by_the_matrix() -> None:
    x, y = torch.ones(2, 4), torch.full((2, 4), 3.0)
    alpha = torch.tensor([[0.75, 0.25], [0.5, 0.5]])
    mx, my = cross_stitch(alpha, [x, y])
    assert torch.allclose(mx, torch.full((2, 4), 1.5)) and torch.allclose(my, torch.full((2, 4), 2.0))


@pytest.mark.parametrize("fusion", ["concat", "late", "late_stacking", "tensor", "transformer", "early"])
@pytest.mark.parametrize("sharing", ["soft", "cross-stitch"])
def test_towers_start_identical_and_train(fusion: str, sharing: str) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(fusion=fusion, sharing=sharing), INFO, KINDS, TARGETS)
    assert isinstance(model, MultiTowerModel) and list(model.towers) == ["y", "z"]
    assert float(model.sharing_penalty().detach()) == 0.0  # every tower starts from the first tower's weights
    inputs, masks, targets = batch()
    logits, extras = model.training_outputs(inputs, masks, targets, TASKS)
    assert logits["y"].shape == (6, 3) and logits["z"].shape == (6, 1)
    loss = sum(torch.nn.functional.mse_loss(v, torch.zeros_like(v)) for v in logits.values())
    loss = loss + sum(extras.values(), torch.zeros(()))
    loss.backward()
    if sharing == "cross-stitch":
        assert model.stitch_modalities["a"].grad is not None
    assert model.embed(inputs, masks).shape[0] == 6


def test_penalty_is_the_squared_distance_between_towers() -> None:
    model = build_model(ModelConfig(fusion="concat", sharing="soft", sharing_weight=0.5), INFO, KINDS, TARGETS)
    assert isinstance(model, MultiTowerModel)
    z_encoder = next(iter(model.towers["z"].encoders["a"].parameters()))
    with torch.no_grad():
        z_encoder.add_(0.1)
    expected = 0.01 * z_encoder.numel()
    assert float(model.sharing_penalty()) == pytest.approx(expected, rel=1e-5)
    inputs, masks, targets = batch()
    _, extras = model.training_outputs(inputs, masks, targets, TASKS)
    assert float(extras["sharing_penalty"]) == pytest.approx(0.5 * expected, rel=1e-5)


def test_identity_stitch_gives_independent_towers() -> None:
    model = build_model(ModelConfig(fusion="concat", sharing="cross-stitch", stitch_init=1.0), INFO, KINDS, TARGETS)
    assert isinstance(model, MultiTowerModel)
    model.eval()
    inputs, masks, _ = batch()
    out = model(inputs, masks)
    for name in ("y", "z"):
        tower = model.towers[name]
        assert isinstance(tower, FusionModel)
        assert torch.allclose(out[name], tower(inputs, masks)[name], atol=1e-6)


def test_modality_dropout_masks_are_shared_by_the_towers() -> None:
    model = build_model(ModelConfig(fusion="concat", sharing="soft", modality_dropout=0.5), INFO, KINDS, TARGETS)
    assert isinstance(model, MultiTowerModel)
    model.train()
    seen: list[dict[str, torch.Tensor]] = []
    for tower in model.towers.values():
        fusion = tower.fusions["shared"]
        fusion.register_forward_hook(lambda _m, args, _out: seen.append({k: v.clone() for k, v in args[1].items()}))
    model(*batch()[:2])
    assert len(seen) == 2 and all(torch.equal(seen[0][k], seen[1][k]) for k in seen[0])


def test_soft_sharing_needs_two_targets() -> None:
    with pytest.raises(ValueError, match="at least two targets"):
        build_model(ModelConfig(sharing="soft"), INFO, KINDS, {"y": ("multiclass", 3)})


@pytest.mark.parametrize("sharing", ["soft", "cross-stitch"])
def test_fit_two_targets_with_soft_sharing_saves_and_reloads(digits_csv: Path, tmp_path: Path, sharing: str) -> None:
    frame = pd.read_csv(digits_csv).iloc[:400].copy()
    frame["value"] = frame["digit"].astype(float)
    predictor = polymodal.fit(
        digits_table(frame, digits_csv, tmp_path), target=["digit", "value"], fusion="concat", sharing=sharing,
        tasks={"value": "regression"}, epochs=2, batch_size=64, progress=False, out=tmp_path / "bundle",
        run_dir=tmp_path / "run",
    )
    assert set(predictor.metrics["validation"]) == {"digit", "value"}
    assert "accuracy" in predictor.metrics["validation"]["digit"] and "mae" in predictor.metrics["validation"]["value"]
    log = pd.read_csv(tmp_path / "run" / "logs" / "metrics.csv")
    if sharing == "soft":
        assert "train_sharing_penalty" in log.columns
    again = polymodal.load(tmp_path / "bundle")
    table = digits_table(frame.iloc[:20], digits_csv, tmp_path, name="few.csv")
    pd.testing.assert_frame_equal(predictor.predict(table), again.predict(table))


def digits_table(frame: pd.DataFrame, digits_csv: Path, tmp_path: Path, name: str = "multi.csv") -> Path:
    """Write ``frame`` beside the digits table so that its relative image paths resolve."""
    path = digits_csv.parent / f"{tmp_path.name}-{name}"
    frame.to_csv(path, index=False)
    return path
