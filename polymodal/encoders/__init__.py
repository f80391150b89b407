"""Encoders: one modality's batch tensor to features ``[B, output_dim]``.

``build_encoder(name, info, **overrides)`` builds a registered encoder from a fitted
preprocessor's ``input_info()``; ``DEFAULT_ENCODERS`` names the default encoder of each kind.

Example
-------
>>> enc = build_encoder("vector-mlp", {"kind": "vector", "dim": 6}, output_dim=4)
>>> enc.output_dim
4
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polymodal.data.kinds import ModalityKind
from polymodal.encoders.audio_cnn import AudioCNN
from polymodal.encoders.base import Encoder
from polymodal.encoders.image_cnn import ImageCNN
from polymodal.encoders.image_mlp import ImageMLP
from polymodal.encoders.pretrained import (
    DESCRIPTIONS,
    HF_DESCRIPTION,
    PREFIX,
    PRETRAINED,
    encoder_factory,
    hf_encoder_factory,
)
from polymodal.encoders.raw import RawEncoder
from polymodal.encoders.tabular_mlp import TabularMLP
from polymodal.encoders.text_rnn import GRUTextEncoder, LSTMTextEncoder, RNNTextEncoder
from polymodal.encoders.text_transformer import TransformerTextEncoder
from polymodal.encoders.vector_mlp import VectorMLP
from polymodal.registry import Registry

ENCODERS: Registry[Encoder] = Registry("encoder")
ENCODERS.register("image-cnn", "small CNN (conv-BN-ReLU stages sized from the image), global average pool")(ImageCNN)
ENCODERS.register("image-mlp", "MLP over the flattened pixels (tiny images: 8x8 to 16x16)")(ImageMLP)
ENCODERS.register("audio-cnn", "2-D CNN over the log-mel spectrogram, global average + max pool")(AudioCNN)
ENCODERS.register("text-gru", "embedding + bidirectional GRU over packed sequences, masked mean")(GRUTextEncoder)
ENCODERS.register("text-lstm", "embedding + bidirectional LSTM over packed sequences, masked mean")(LSTMTextEncoder)
ENCODERS.register("text-transformer", "embedding + learned positions + Transformer encoder, masked mean")(
    TransformerTextEncoder
)
ENCODERS.register("tabular-mlp", "MLP over numeric values and one embedding per categorical column")(TabularMLP)
ENCODERS.register("vector-mlp", "LayerNorm then MLP over precomputed feature vectors")(VectorMLP)
ENCODERS.register("raw", "no parameters: flattened inputs, one-hot categories, bag of words (early fusion)")(RawEncoder)
for _name in PRETRAINED:  # optional packages: a missing one is an error only when the encoder is built
    ENCODERS.register(_name, DESCRIPTIONS[_name])(encoder_factory(_name))
ENCODERS.register_prefix(PREFIX, HF_DESCRIPTION, hf_encoder_factory, usage=f"{PREFIX}NAME_OR_PATH")

DEFAULT_ENCODERS: dict[ModalityKind, str] = {
    ModalityKind.IMAGE: "image-cnn",
    ModalityKind.AUDIO: "audio-cnn",
    ModalityKind.TEXT: "text-gru",
    ModalityKind.TABULAR: "tabular-mlp",
    ModalityKind.VECTOR: "vector-mlp",
}


def build_encoder(name: str, info: Mapping[str, Any], **overrides: Any) -> Encoder:
    """Build encoder ``name`` from a preprocessor's ``input_info()`` plus ``overrides``.

    Keys of ``info`` that the encoder does not take are not passed; an override it does not take is
    an error listing the valid arguments. Overrides win over ``info``.
    """
    valid = ENCODERS.get(name).parameters()
    kwargs = {key: value for key, value in info.items() if key in valid}
    kwargs.update(overrides)
    return ENCODERS.create(name, **kwargs)


__all__ = [
    "DEFAULT_ENCODERS",
    "ENCODERS",
    "PRETRAINED",
    "AudioCNN",
    "Encoder",
    "GRUTextEncoder",
    "ImageCNN",
    "LSTMTextEncoder",
    "RNNTextEncoder",
    "RawEncoder",
    "TabularMLP",
    "TransformerTextEncoder",
    "VectorMLP",
    "build_encoder",
]
