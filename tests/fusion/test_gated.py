from __future__ import annotations

import pytest
import torch

from polymodal.fusion.gated import GatedFusion

DIMS = {"image": 4, "audio": 3, "text": 2}
PRESENT = torch.tensor([[True, True, True], [True, False, True], [False, False, True], [False, False, False]])


def batch() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    features = {m: torch.randn(4, d, generator=gen) for m, d in DIMS.items()}
    return features, {m: PRESENT[:, i] for i, m in enumerate(DIMS)}


def test_softmax_gates_sum_to_one_over_present_modalities() -> None:
    torch.manual_seed(0)
    fusion = GatedFusion(DIMS, output_dim=6)
    gates = fusion.gates(*batch())  # [B, M, H], modalities sorted: audio, image, text
    present = PRESENT[:, [1, 0, 2]]
    assert torch.all(gates[~present] == 0)
    torch.testing.assert_close(gates[:3].sum(dim=1), torch.ones(3, 6))
    assert torch.all(gates[3] == 0)  # nothing present: no gate open, output zero


def test_sigmoid_gates_are_zero_for_missing_modalities() -> None:
    torch.manual_seed(0)
    fusion = GatedFusion(DIMS, output_dim=6, gate="sigmoid")
    gates = fusion.gates(*batch())
    present = PRESENT[:, [1, 0, 2]]
    assert torch.all(gates[~present] == 0)
    assert torch.all((gates[present] > 0) & (gates[present] < 1))


def test_two_modalities_reduce_to_the_bimodal_gmu() -> None:
    """Arevalo et al. 2017: h = z * tanh(W_a a) + (1 - z) * tanh(W_b b), z = sigmoid(W_z [a, b])."""
    torch.manual_seed(0)
    fusion = GatedFusion({"a": 3, "b": 2}, output_dim=4)
    a, b = torch.randn(5, 3), torch.randn(5, 2)
    on = torch.ones(5, dtype=torch.bool)
    logits = fusion.gate_layer(torch.cat([a, b, torch.ones(5, 2)], dim=1)).reshape(5, 2, 4)
    z = torch.sigmoid(logits[:, 0] - logits[:, 1])
    expected = z * torch.tanh(fusion.transforms["a"](a)) + (1 - z) * torch.tanh(fusion.transforms["b"](b))
    torch.testing.assert_close(fusion({"a": a, "b": b}, {"a": on, "b": on}), expected)


def test_unknown_gate_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown gate 'relu'; valid: softmax, sigmoid"):
        GatedFusion(DIMS, gate="relu")
