from __future__ import annotations

import pytest
import torch

from polymodal.fusion.sum import SumFusion


def test_sums_the_projections_of_present_modalities_only() -> None:
    torch.manual_seed(0)
    fusion = SumFusion({"a": 3, "b": 2}, output_dim=4)
    a, b = torch.randn(3, 3), torch.randn(3, 2)
    masks = {"a": torch.tensor([True, True, False]), "b": torch.tensor([True, False, False])}
    out = fusion({"a": a, "b": b}, masks)
    pa, pb = fusion.projections["a"](a), fusion.projections["b"](b)
    torch.testing.assert_close(out[0], pa[0] + pb[0])
    torch.testing.assert_close(out[1], pa[1])
    torch.testing.assert_close(out[2], torch.zeros(4))


def test_bad_output_dim_is_refused() -> None:
    with pytest.raises(ValueError, match="output_dim must be positive, got -1"):
        SumFusion({"a": 3}, output_dim=-1)
