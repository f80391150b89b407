"""Tiny random batches of three modalities (image, tabular, text) for the representation models."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from polymodal.data.kinds import ModalityKind
from polymodal.models.objectives import build_representation_model
from polymodal.models.representation import RepresentationModel

INFO: dict[str, dict[str, Any]] = {
    "img": {"kind": "image", "channels": 1, "height": 8, "width": 8},
    "tab": {"kind": "tabular", "n_numeric": 2, "cardinalities": [3]},
    "txt": {"kind": "text", "vocab_size": 12, "max_length": 5},
}
KINDS = {"img": ModalityKind.IMAGE, "tab": ModalityKind.TABULAR, "txt": ModalityKind.TEXT}
ENCODER_ARGS = {"image": {"base_channels": 4, "output_dim": 8}, "tabular": {"output_dim": 8},
                "text": {"output_dim": 8, "embedding_dim": 8, "hidden_dim": 8}}


def make_batch(n: int = 40, seed: int = 0, names: tuple[str, ...] = ("img", "tab", "txt")) -> tuple[
        dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    inputs = {
        "img": torch.randn(n, 1, 8, 8, generator=g),
        "tab": torch.cat([torch.randn(n, 2, generator=g), torch.randint(0, 3, (n, 1), generator=g).float()], dim=1),
        "txt": torch.randint(0, 12, (n, 5), generator=g),
    }
    masks = {k: torch.ones(n, dtype=torch.bool) for k in inputs}
    return {k: inputs[k] for k in names}, {k: masks[k] for k in names}


def build(objective: str, names: tuple[str, ...] = ("img", "tab", "txt"), **args: Any) -> RepresentationModel:
    torch.manual_seed(0)
    return build_representation_model(objective, {n: INFO[n] for n in names}, KINDS, encoder_args=ENCODER_ARGS,
                                      objective_args=args)


def assert_finite_gradients(model: torch.nn.Module) -> None:
    without = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not without, f"parameters without a gradient: {without}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad}"


def assert_missing_inputs_ignored(model: RepresentationModel, name: str, n: int = 40) -> None:
    """Changing a modality's inputs where it is masked out leaves the embedding unchanged."""
    model.eval()
    inputs, masks = make_batch(n, names=tuple(model.modalities))
    masks[name] = torch.arange(n) % 2 == 0
    before = model.embed(inputs, masks)
    changed = dict(inputs)
    noise = torch.randint(1, 12, inputs[name].shape) if name == "txt" else torch.randn(inputs[name].shape) * 5
    changed[name] = torch.where(masks[name].view(-1, *[1] * (inputs[name].dim() - 1)), inputs[name],
                                noise.to(inputs[name].dtype))
    after = model.embed(changed, masks)
    assert torch.allclose(before, after, atol=1e-5)


@pytest.fixture
def batch() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    return make_batch()
