"""The vector MLP's activation is chosen by name; an unknown name is a clear error."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from polymodal.encoders import build_encoder
from polymodal.encoders.layers import ACTIVATIONS
from polymodal.encoders.vector_mlp import VectorMLP


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_each_hidden_layer_uses_the_named_activation(name: str) -> None:
    encoder = VectorMLP(dim=5, output_dim=3, hidden_dim=8, num_layers=3, activation=name)
    used = [m for m in encoder.modules() if isinstance(m, tuple(ACTIVATIONS.values()))]
    assert len(used) == 3 and all(isinstance(m, ACTIVATIONS[name]) for m in used)
    assert encoder(torch.randn(4, 5)).shape == (4, 3)


def test_sigmoid_hidden_units_are_bounded_and_the_default_stays_relu() -> None:
    encoder = build_encoder("vector-mlp", {"kind": "vector", "dim": 4}, activation="sigmoid", num_layers=1)
    hidden = encoder.net[1][:2](encoder.net[0](100 * torch.randn(16, 4)))
    assert bool(((hidden > 0) & (hidden < 1)).all())
    assert isinstance(VectorMLP(dim=4).net[1][1], nn.ReLU)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        VectorMLP(dim=4, activation="swish")
