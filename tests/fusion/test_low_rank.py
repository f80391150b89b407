from __future__ import annotations

import pytest
import torch

from polymodal.fusion.low_rank import LowRankFusion
from polymodal.fusion.tensor import TensorFusion

DIMS = {"text": 5, "audio": 3, "image": 4}


def batch() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    mask = torch.tensor([[True, True, True], [True, False, True], [False, False, True], [False, False, False]])
    features = {m: torch.randn(4, d, generator=gen, dtype=torch.float64) for m, d in DIMS.items()}
    return features, {m: mask[:, i] for i, m in enumerate(DIMS)}


def test_agrees_with_tensor_fusion_whose_weight_is_built_from_the_factors() -> None:
    torch.manual_seed(0)
    rank, out = 4, 6
    lmf = LowRankFusion(DIMS, output_dim=out, rank=rank).double()
    tfn = TensorFusion(DIMS, output_dim=out, proj_dim=None).double()
    with torch.no_grad():
        lmf.bias.normal_()
        for m in DIMS:
            lmf.missing.embeddings[m].normal_()
            tfn.missing.embeddings[m].copy_(lmf.missing.embeddings[m])
        # sorted modalities: audio, image, text; W[o, i, j, k] = sum_r A[r, i, o] B[r, j, o] C[r, k, o]
        a, b, c = (lmf.factors[m] for m in ("audio", "image", "text"))
        full = torch.einsum("rio,rjo,rko->oijk", a, b, c)
        tfn.output.weight.copy_(full.reshape(out, -1))
        tfn.output.bias.copy_(lmf.bias)
        features, masks = batch()
        torch.testing.assert_close(lmf(features, masks), tfn(features, masks), atol=1e-5, rtol=1e-5)


def test_every_factor_is_a_registered_parameter_that_trains() -> None:
    torch.manual_seed(0)
    lmf = LowRankFusion(DIMS, output_dim=6, rank=4)
    expected = 4 * sum((d + 1) * 6 for d in DIMS.values()) + 6 + sum(DIMS.values())  # factors, bias, missing
    assert sum(p.numel() for p in lmf.parameters()) == expected
    before = {m: lmf.factors[m].detach().clone() for m in DIMS}
    features, masks = batch()
    optimiser = torch.optim.SGD(lmf.parameters(), lr=0.1)
    lmf({m: x.float() for m, x in features.items()}, masks).square().sum().backward()
    optimiser.step()
    assert all(not torch.equal(lmf.factors[m], before[m]) for m in DIMS)


def test_bad_rank_is_refused() -> None:
    with pytest.raises(ValueError, match="rank must be positive, got 0"):
        LowRankFusion(DIMS, rank=0)
