"""Linear models fitted on fixed features (stacking's base heads and meta-model)."""

from __future__ import annotations

import torch

from polymodal.fusion.linear_fit import fit_linear


def test_fit_linear_recovers_a_separable_rule() -> None:
    x = torch.randn(200, 3, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).long()
    w, b = fit_linear(x, y, "softmax", 2, l2=1e-4)
    assert float(((x.double() @ w.T + b).argmax(1) == y).double().mean()) > 0.97
    w, b = fit_linear(x, (2 * x[:, :1] + 1), "identity", 1, l2=0.0)
    assert torch.allclose(w, torch.tensor([[2.0, 0.0, 0.0]], dtype=torch.float64), atol=1e-3)
    assert torch.allclose(b, torch.tensor([1.0], dtype=torch.float64), atol=1e-3)
