from __future__ import annotations

import pytest
import torch
from torch import nn

from polymodal.fusion.attention import AttentionBlock
from polymodal.fusion.transformer import TransformerFusion

DIMS = {"image": 4, "audio": 3, "text": 2}


def test_pairwise_cross_builds_a_stack_per_ordered_pair() -> None:
    fusion = TransformerFusion(DIMS, output_dim=8, num_heads=2, num_layers=3, pairwise_cross=True)
    stacks = {(t, s): stack for t, by_source in fusion.cross.items() for s, stack in by_source.named_children()}
    assert set(stacks) == {(t, s) for t in DIMS for s in DIMS if t != s}
    assert all(isinstance(stack, nn.ModuleList) and len(stack) == 3 for stack in stacks.values())


def test_with_nothing_present_the_output_is_the_summary_token_alone() -> None:
    torch.manual_seed(0)
    fusion = TransformerFusion(DIMS, output_dim=8, num_heads=2, num_layers=1).eval()
    off = torch.zeros(1, dtype=torch.bool)
    out = fusion({m: torch.randn(1, d) for m, d in DIMS.items()}, {m: off for m in DIMS})
    block = fusion.blocks[0]
    assert isinstance(block, AttentionBlock)
    x = fusion.summary.reshape(1, 1, 8)
    h = block.norm_query(x)
    a = block.attention
    # attending only to itself: softmax weight 1 on its own value
    x = x + a.out(a.value(h))
    x = x + block.ff(block.norm_ff(x))
    torch.testing.assert_close(out, fusion.norm(x[:, 0]))


def test_one_modality_is_enough_without_pairwise_blocks() -> None:
    fusion = TransformerFusion({"image": 4}, output_dim=8, num_heads=2)
    on = torch.ones(3, dtype=torch.bool)
    assert fusion({"image": torch.randn(3, 4)}, {"image": on}).shape == (3, 8)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="pairwise_cross needs at least two modalities"):
        TransformerFusion({"image": 4}, pairwise_cross=True)
    with pytest.raises(ValueError, match="num_layers must be positive, got 0"):
        TransformerFusion(DIMS, num_layers=0)
    with pytest.raises(ValueError, match="output_dim must be positive"):
        TransformerFusion(DIMS, output_dim=0)
