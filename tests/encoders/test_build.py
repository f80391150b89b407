import pytest

from polymodal.data.kinds import ModalityKind
from polymodal.encoders import DEFAULT_ENCODERS, ENCODERS, GRUTextEncoder, build_encoder


def test_default_encoders_cover_every_kind():
    assert set(DEFAULT_ENCODERS) == set(ModalityKind)
    assert all(name in ENCODERS for name in DEFAULT_ENCODERS.values())


def test_info_keys_the_encoder_does_not_take_are_dropped():
    info = {"kind": "text", "vocab_size": 50, "max_length": 9}
    encoder = build_encoder("text-gru", info, hidden_dim=8, output_dim=5)
    assert isinstance(encoder, GRUTextEncoder)
    assert encoder.output_dim == 5 and encoder.rnn.hidden_size == 8


def test_overrides_win_over_info():
    encoder = build_encoder("vector-mlp", {"kind": "vector", "dim": 4}, dim=7, output_dim=3)
    assert encoder.net[0].normalized_shape == (7,)


def test_unknown_override_lists_the_valid_arguments():
    with pytest.raises(ValueError, match=r"unknown argument\(s\) n_heads for encoder 'text-gru'; valid arguments: "):
        build_encoder("text-gru", {"vocab_size": 10}, n_heads=2)


def test_unknown_encoder_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown encoder 'resnet'; known encoders: audio-cnn"):
        build_encoder("resnet", {})


def test_every_encoder_has_a_description():
    assert all(entry.description for entry in ENCODERS)
