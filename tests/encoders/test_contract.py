"""One contract, every registered encoder (as timm runs one test file over all its models)."""

import pytest
import torch

from polymodal.encoders import ENCODERS, PRETRAINED, build_encoder

B = 4

INFOS = {
    "image": {"kind": "image", "channels": 3, "height": 8, "width": 8},
    "audio": {"kind": "audio", "n_mels": 12, "n_frames": 20},
    "text": {"kind": "text", "vocab_size": 30, "max_length": 7},
    "tabular": {"kind": "tabular", "n_numeric": 3, "cardinalities": [4, 2]},
    "vector": {"kind": "vector", "dim": 6},
}
KIND_OF = {
    "image-cnn": "image",
    "image-mlp": "image",
    "audio-cnn": "audio",
    "text-gru": "text",
    "text-lstm": "text",
    "text-transformer": "text",
    "tabular-mlp": "tabular",
    "vector-mlp": "vector",
}
SMALL = {"output_dim": 8}  # small sizes keep the test fast
CASES = [(name, kind) for name, kind in KIND_OF.items()] + [("raw", kind) for kind in INFOS]


def test_every_registered_encoder_is_covered():
    # pretrained encoders read their own preprocessing's output: tests/encoders/test_pretrained.py
    assert set(ENCODERS.names()) - set(PRETRAINED) == {*KIND_OF, "raw"}


def make_batch(kind: str, seed: int = 0) -> torch.Tensor:
    """A batch whose first row is all zeros (text: all padding), the rest random."""
    g = torch.Generator().manual_seed(seed)
    info = INFOS[kind]
    if kind == "image":
        x = torch.randn(B, info["channels"], info["height"], info["width"], generator=g)
    elif kind == "audio":
        x = torch.randn(B, 1, info["n_mels"], info["n_frames"], generator=g)
    elif kind == "text":
        x = torch.randint(1, info["vocab_size"], (B, info["max_length"]), generator=g)
        x[1, 3:] = 0  # padded row
        x[2, 1:] = 0  # a single token
    elif kind == "tabular":
        numeric = torch.randn(B, info["n_numeric"], generator=g)
        codes = torch.stack([torch.randint(0, c, (B,), generator=g) for c in info["cardinalities"]], dim=1)
        x = torch.cat([numeric, codes.float()], dim=1)
    else:
        x = torch.randn(B, info["dim"], generator=g)
    x[0] = 0
    return x


def build(name: str, kind: str):
    torch.manual_seed(0)
    return build_encoder(name, INFOS[kind], **({} if name == "raw" else SMALL))


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_output_shape_and_finite_values_including_an_empty_row(name, kind):
    encoder = build(name, kind)
    for training in (True, False):
        encoder.train(training)
        out = encoder(make_batch(kind))
        assert out.shape == (B, encoder.output_dim)
        assert torch.isfinite(out).all(), f"{name}: non-finite output (training={training})"


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_gradients_reach_every_parameter(name, kind):
    encoder = build(name, kind).train()
    params = dict(encoder.named_parameters())
    if name == "raw":
        assert params == {}
        return
    out = encoder(make_batch(kind))
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * weights).sum().backward()
    for pname, p in params.items():
        assert p.grad is not None, f"{name}: {pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}: {pname} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name}: {pname} has an all-zero gradient"


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_eval_mode_is_deterministic_and_rows_are_independent(name, kind):
    encoder = build(name, kind).eval()
    x = make_batch(kind)
    with torch.no_grad():
        first, second = encoder(x), encoder(x)
        alone = torch.cat([encoder(x[i : i + 1]) for i in range(B)])
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    torch.testing.assert_close(alone, first, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["text-gru", "text-lstm", "text-transformer", "raw"])
def test_text_encoders_ignore_padding(name):
    encoder = build(name, "text").eval()
    x = make_batch("text")[:, :5]
    longer = torch.cat([x, torch.zeros(B, 2, dtype=x.dtype)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(encoder(longer), encoder(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("name", "kind"), [(n, k) for n, k in CASES if n != "raw"])
def test_wrong_input_shape_is_a_clear_error(name, kind):
    encoder = build(name, kind)
    with pytest.raises(ValueError, match=r"expects input \[B"):
        encoder(torch.zeros(2, 3, 5, 7, 9))
