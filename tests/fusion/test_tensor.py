from __future__ import annotations

import pytest
import torch

from polymodal.fusion.tensor import TensorFusion

DIMS = {"b": 3, "a": 2, "c": 4}


def batch(present: list[list[bool]]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    mask = torch.tensor(present)
    features = {m: torch.randn(mask.shape[0], d, generator=gen, dtype=torch.float64) for m, d in DIMS.items()}
    return features, {m: mask[:, i] for i, m in enumerate(DIMS)}


def test_equals_the_explicit_outer_product_formula() -> None:
    torch.manual_seed(0)
    fusion = TensorFusion(DIMS, output_dim=5, proj_dim=3).double()
    with torch.no_grad():
        for embedding in fusion.missing.embeddings.values():
            embedding.normal_()
    features, masks = batch([[True, True, True], [False, True, True], [True, True, False], [False, False, False]])

    def extended(m: str) -> torch.Tensor:  # [projected or missing embedding, 1]
        z = fusion.projections[m](features[m])
        z = torch.where(masks[m].unsqueeze(-1), z, fusion.missing.embeddings[m].expand_as(z))
        return torch.cat([z, torch.ones(z.shape[0], 1, dtype=z.dtype)], dim=1)

    # modalities in sorted order: a, b, c
    weight = fusion.output.weight.reshape(5, 4, 4, 4)
    expected = torch.einsum("bi,bj,bk,oijk->bo", extended("a"), extended("b"), extended("c"), weight)
    expected = expected + fusion.output.bias
    with torch.no_grad():
        torch.testing.assert_close(fusion(features, masks), expected)


def test_without_projection_the_product_contains_the_raw_features_and_their_products() -> None:
    fusion = TensorFusion({"a": 2, "b": 1}, output_dim=1, proj_dim=None)
    features = {"a": torch.tensor([[2.0, 3.0]]), "b": torch.tensor([[5.0]])}
    on = torch.ones(1, dtype=torch.bool)
    product = fusion.product(features, {"a": on, "b": on})
    # [a1, a2, 1] x [b1, 1] flattened, the first modality varying slowest
    torch.testing.assert_close(product, torch.tensor([[10.0, 2.0, 15.0, 3.0, 5.0, 1.0]]))


def test_a_too_large_product_is_refused_with_advice() -> None:
    with pytest.raises(ValueError, match=r"has 1030301 entries.*smaller proj_dim.*'low_rank'"):
        TensorFusion({"a": 100, "b": 100, "c": 100}, proj_dim=None)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="proj_dim must be positive"):
        TensorFusion(DIMS, proj_dim=0)
    with pytest.raises(ValueError, match="output_dim must be positive"):
        TensorFusion(DIMS, output_dim=0)
