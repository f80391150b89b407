from __future__ import annotations

import pytest
import torch

from polymodal.fusion.cross_attention import CrossAttentionFusion

DIMS = {"image": 4, "audio": 3, "text": 2}


@pytest.mark.parametrize("attention", ["dot", "additive"])
def test_a_modality_alone_keeps_its_normalised_projection(attention: str) -> None:
    torch.manual_seed(0)
    fusion = CrossAttentionFusion(DIMS, output_dim=8, num_heads=2, attention=attention).eval()
    features = {m: torch.randn(2, d) for m, d in DIMS.items()}
    masks = {m: torch.tensor([m == "text", True]) for m in DIMS}
    out = fusion(features, masks)
    # nothing to attend to: the attention adds its output bias only
    expected = fusion.norm(fusion.projections["text"](features["text"][0]) + fusion.attention.out.bias)
    torch.testing.assert_close(out[0], expected)


def test_the_output_averages_the_modalities_attending_to_each_other() -> None:
    torch.manual_seed(0)
    fusion = CrossAttentionFusion({"a": 3, "b": 2}, output_dim=4, num_heads=1).eval()
    a, b = torch.randn(1, 3), torch.randn(1, 2)
    on = torch.ones(1, dtype=torch.bool)
    ta, tb = fusion.projections["a"](a), fusion.projections["b"](b)
    # with one other modality, each query's softmax has a single entry: it takes the other's value
    attend_b = fusion.attention.out(fusion.attention.value(tb))
    attend_a = fusion.attention.out(fusion.attention.value(ta))
    expected = (fusion.norm(ta + attend_b) + fusion.norm(tb + attend_a)) / 2
    torch.testing.assert_close(fusion({"a": a, "b": b}, {"a": on, "b": on}), expected)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="needs at least two modalities"):
        CrossAttentionFusion({"image": 4})
    with pytest.raises(ValueError, match="unknown attention 'luong'; valid: dot, additive"):
        CrossAttentionFusion(DIMS, attention="luong")
    with pytest.raises(ValueError, match="multiple of num_heads=3"):
        CrossAttentionFusion(DIMS, output_dim=8, num_heads=3)
