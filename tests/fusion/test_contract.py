"""The fusion contract, run over every registered fusion (and a few non-default variants).

A new fusion registered in ``polymodal.fusion.FUSIONS`` is covered here without editing this file.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from polymodal.fusion import FUSIONS
from polymodal.fusion.base import ACTIVATIONS, Fusion

DIMS = {"image": 5, "audio": 3, "text": 4}  # three modalities of different sizes, not in sorted order
NUM_OUTPUTS = 3
# rows: all present; one missing each; only image present; nothing present
PRESENT = torch.tensor(
    [
        [True, True, True],
        [False, True, True],
        [True, False, True],
        [True, True, False],
        [True, False, False],
        [False, False, False],
    ]
)
EXTRA_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("gated", {"gate": "sigmoid"}),
    ("tensor", {"proj_dim": None}),
    ("cross_attention", {"attention": "additive"}),
    ("transformer", {"pairwise_cross": True}),
    ("late_stacking", {"hidden_dim": 8}),
]


def is_late(name: str) -> bool:
    return bool(getattr(FUSIONS.get(name).factory, "produces_predictions", False))


def variants() -> list[Any]:
    cases = []
    for name, kwargs in [(n, {}) for n in FUSIONS.names()] + EXTRA_VARIANTS:
        extra = "-".join(f"{k}={v}" for k, v in kwargs.items())
        for activation in ACTIVATIONS if is_late(name) else [None]:
            label = "-".join(part for part in (name, extra, activation) if part)
            cases.append(pytest.param(name, kwargs, activation, id=label))
    return cases


def build(name: str, kwargs: dict[str, Any], activation: str | None, seed: int = 0) -> Fusion:
    torch.manual_seed(seed)
    if activation is not None:
        kwargs = {**kwargs, "num_outputs": NUM_OUTPUTS, "activation": activation}
    return FUSIONS.create(name, input_dims=DIMS, **kwargs)


def inputs(present: torch.Tensor = PRESENT, seed: int = 1) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    features = {m: torch.randn(present.shape[0], d, generator=gen) for m, d in DIMS.items()}
    masks = {m: present[:, i].clone() for i, m in enumerate(DIMS)}
    return features, masks


pytestmark = pytest.mark.parametrize(("name", "kwargs", "activation"), variants())


def test_output_shape_and_finite(name: str, kwargs: dict[str, Any], activation: str | None) -> None:
    fusion = build(name, kwargs, activation).eval()
    with torch.no_grad():
        out = fusion(*inputs())
    assert out.shape == (PRESENT.shape[0], fusion.output_dim)
    assert torch.isfinite(out).all()


def test_every_parameter_gets_a_gradient(name: str, kwargs: dict[str, Any], activation: str | None) -> None:
    fusion = build(name, kwargs, activation).train()
    features, masks = inputs()
    out = fusion(features, masks)
    # random weights: a plain sum would give LayerNorm outputs a zero gradient
    loss = (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(2))).sum()
    auxiliary = getattr(fusion, "auxiliary_logits", None)
    if auxiliary is not None:  # what the engine adds: the heads' own loss on present samples
        logits = auxiliary(features)
        loss = loss + torch.where(PRESENT.unsqueeze(-1), logits, torch.zeros_like(logits)).square().sum()
    loss.backward()
    state = fusion.state_dict()
    no_grad = [n for n, p in fusion.named_parameters() if p.grad is None or not bool((p.grad != 0).any())]
    assert no_grad == []
    assert all(torch.isfinite(p.grad).all() for p in fusion.parameters() if p.grad is not None)
    assert [n for n, _ in fusion.named_parameters() if n not in state] == []


def test_state_dict_holds_all_state(name: str, kwargs: dict[str, Any], activation: str | None) -> None:
    """A copy loaded from the state dict computes the same function: nothing lives outside it."""
    first = build(name, kwargs, activation, seed=0).eval()
    second = build(name, kwargs, activation, seed=123).eval()
    second.load_state_dict(first.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(first(*inputs()), second(*inputs()))


def test_order_of_the_mapping_does_not_matter(name: str, kwargs: dict[str, Any], activation: str | None) -> None:
    fusion = build(name, kwargs, activation).eval()
    features, masks = inputs()
    order = ["text", "audio", "image"]
    with torch.no_grad():
        expected = fusion(features, masks)
        actual = fusion({m: features[m] for m in order}, {m: masks[m] for m in reversed(order)})
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


@pytest.mark.parametrize("replacement", ["random", "nan"])
def test_masked_values_do_not_change_the_output(
    name: str, kwargs: dict[str, Any], activation: str | None, replacement: str
) -> None:
    fusion = build(name, kwargs, activation).eval()
    features, masks = inputs()
    changed = {}
    for m, x in features.items():
        other = torch.full_like(x, float("nan")) if replacement == "nan" else 100 * torch.randn_like(x)
        changed[m] = torch.where(masks[m].unsqueeze(-1), x, other)
    with torch.no_grad():
        torch.testing.assert_close(fusion(changed, masks), fusion(features, masks))


def test_present_values_do_change_the_output(name: str, kwargs: dict[str, Any], activation: str | None) -> None:
    """The converse check, so that a fusion ignoring its inputs cannot pass the test above.

    In training mode, where even a vote is smooth; dropout draws the same masks from the same seed.
    """
    fusion = build(name, kwargs, activation).train()
    features, masks = inputs()
    with torch.no_grad():
        torch.manual_seed(3)
        before = fusion(features, masks)
        for m in DIMS:
            shifted = {**features, m: features[m] + torch.randn_like(features[m])}
            torch.manual_seed(3)
            after = fusion(shifted, masks)
            assert not torch.allclose(after[0], before[0]), f"changing present modality {m!r} changed nothing"


def test_one_modality_present_gives_finite_values_and_gradients(
    name: str, kwargs: dict[str, Any], activation: str | None
) -> None:
    fusion = build(name, kwargs, activation)
    for alone in DIMS:
        present = torch.tensor([[m == alone for m in DIMS]] * 4)
        present[-1] = False  # and a sample with nothing at all
        features, masks = inputs(present)
        fusion.zero_grad()
        out = fusion.train()(features, masks)
        out.square().sum().backward()
        assert torch.isfinite(out).all(), f"only {alone!r} present"
        assert all(torch.isfinite(p.grad).all() for p in fusion.parameters() if p.grad is not None)
        with torch.no_grad():
            assert torch.isfinite(fusion.eval()(features, masks)).all(), f"only {alone!r} present"
