from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from polymodal.fusion.attention import AttentionBlock, MaskedAttention


def test_dot_attention_equals_torch_multihead_attention() -> None:
    torch.manual_seed(0)
    ours = MaskedAttention(8, num_heads=2).eval()
    reference = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    with torch.no_grad():
        reference.in_proj_weight.copy_(torch.cat([ours.query.weight, ours.key.weight, ours.value.weight]))
        reference.in_proj_bias.copy_(torch.cat([ours.query.bias, torch.zeros(8), ours.value.bias]))
        reference.out_proj.weight.copy_(ours.out.weight)
        reference.out_proj.bias.copy_(ours.out.bias)
    query, context = torch.randn(3, 2, 8), torch.randn(3, 4, 8)
    padding = torch.tensor([[False, False, True, False], [False, True, True, True], [False] * 4])
    expected, _ = reference(query, context, context, key_padding_mask=padding)
    allowed = (~padding).unsqueeze(1).expand(3, 2, 4)
    torch.testing.assert_close(ours(query, context, allowed), expected)


def test_additive_attention_follows_bahdanau() -> None:
    torch.manual_seed(0)
    attention = MaskedAttention(4, num_heads=1, kind="additive").eval()
    query, context = torch.randn(1, 1, 4), torch.randn(1, 3, 4)
    allowed = torch.tensor([[[True, False, True]]])
    assert attention.score is not None
    scores = torch.stack(
        [attention.score[0] @ torch.tanh(attention.query(query[0, 0]) + attention.key(context[0, k])) for k in (0, 2)]
    )
    weights = torch.softmax(scores, dim=0)
    values = attention.value(context[0, [0, 2]])
    expected = attention.out(weights @ values)
    torch.testing.assert_close(attention(query, context, allowed)[0, 0], expected)


def test_a_query_with_no_allowed_key_gets_zero_attention() -> None:
    torch.manual_seed(0)
    attention = MaskedAttention(4, num_heads=2)
    out = attention(torch.randn(2, 1, 4), torch.randn(2, 3, 4), torch.zeros(2, 1, 3, dtype=torch.bool))
    torch.testing.assert_close(out, attention.out.bias.expand(2, 1, 4))


def test_the_null_key_is_always_attended() -> None:
    torch.manual_seed(0)
    attention = MaskedAttention(4, num_heads=1, null_key=True)
    assert attention.null is not None
    out = attention(torch.randn(2, 1, 4), torch.randn(2, 1, 4), torch.zeros(2, 1, 1, dtype=torch.bool))
    expected = attention.out(attention.value(attention.null))
    torch.testing.assert_close(out, expected.expand(2, 1, 4))


def test_dot_scores_are_scaled_by_the_head_size() -> None:
    torch.manual_seed(0)
    attention = MaskedAttention(8, num_heads=2)
    query, context = torch.randn(1, 1, 8), torch.randn(1, 1, 8)
    q, k = attention.query(query).reshape(2, 4), attention.key(context).reshape(2, 4)
    expected = (q * k).sum(-1) / math.sqrt(4)
    torch.testing.assert_close(attention.scores(query, context).reshape(2), expected)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown attention 'cosine'; valid: dot, additive"):
        MaskedAttention(8, kind="cosine")
    with pytest.raises(ValueError, match="model size 10 must be a positive multiple of num_heads=4"):
        MaskedAttention(10, num_heads=4)
    block = AttentionBlock(8, num_heads=2, cross=True)
    with pytest.raises(ValueError, match="needs a context"):
        block(torch.randn(1, 1, 8), torch.ones(1, 1, 1, dtype=torch.bool))
