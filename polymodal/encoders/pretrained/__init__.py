"""Pretrained encoders by name: offline (``minilm``, ``efficientnet-lite0``, ``resemblyzer``) or ``hf:NAME_OR_PATH``.

They need the optional packages of ``pip install 'polymodal[pretrained]'``; asking for one whose
package is missing raises :class:`MissingDependencyError` saying what to install. Each carries its
own preprocessing (its tokenizer, its resize and normalisation, its sample rate): choosing one in
``ModelConfig.encoders`` makes :func:`polymodal.fit` select the matching pretrained preprocessor for
that modality (see :func:`with_pretrained_preprocessing`). The encoder argument ``train`` is
``"frozen"`` (default: embeddings computed once in preprocessing, through the on-disk cache),
``"last:N"`` (the last N blocks train), ``"full"`` or, for ``hf:`` models, ``"lora:r=8"`` (LoRA
adapters, :mod:`~polymodal.encoders.pretrained.lora`); ``weights`` is a local model folder or
checkpoint instead of the packaged weights. ``hf:NAME_OR_PATH`` is any Hugging Face model of a known
family (:mod:`~polymodal.encoders.pretrained.hf`). A saved model records the backbone's weights
digest and refuses other weights.

Example
-------
>>> config = {"encoders": {"image": "efficientnet-lite0"}, "encoder_args": {"image": {"train": "last:2"}}}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from polymodal.data.kinds import ModalityKind
from polymodal.encoders.base import Encoder
from polymodal.encoders.pretrained.backbone import Backbone
from polymodal.encoders.pretrained.catalog import (
    DESCRIPTIONS,
    HF_DESCRIPTION,
    PRETRAINED,
    is_pretrained,
    load_backbone,
    pretrained_kind,
    shared_backbone,
)
from polymodal.encoders.pretrained.efficientnet_lite import EfficientNetLite0
from polymodal.encoders.pretrained.encoder import FineTunedEncoder, PrecomputedEmbedding
from polymodal.encoders.pretrained.hf import HFBackbone
from polymodal.encoders.pretrained.hf_families import FAMILIES, HFFamily, family_rows
from polymodal.encoders.pretrained.hf_loading import PREFIX, HFLoadError
from polymodal.encoders.pretrained.joint import JointTower, expand_joint, mark_aligned
from polymodal.encoders.pretrained.lora import LoRAEncoder
from polymodal.encoders.pretrained.minilm import MiniLM
from polymodal.encoders.pretrained.requirements import INSTALL_HINT, MissingDependencyError
from polymodal.encoders.pretrained.resemblyzer import Resemblyzer
from polymodal.encoders.pretrained.selection import with_pretrained_preprocessing
from polymodal.encoders.pretrained.training import TrainMode


def _build(name: str, pretrained: str | None, train: str, weights: str | None, embedding_dim: int | None,
           options: Mapping[str, Any], weights_digest: str | None) -> Encoder:
    if pretrained != name:
        raise ValueError(
            f"encoder {name!r} reads the output of its own preprocessing, not of the "
            f"{'regular' if pretrained is None else repr(pretrained)} preprocessor; choose it in the model "
            f"config (encoders: {{MODALITY: {name}}}) so that polymodal.fit selects its preprocessing, or "
            f"build the pipeline with preprocess {{MODALITY: {{'pretrained': {name!r}}}}}"
        )
    mode = TrainMode.parse(train)
    joint = name in PRETRAINED and issubclass(PRETRAINED[name], JointTower)
    if mode.frozen:
        if embedding_dim is None:
            raise ValueError(f"frozen encoder {name!r} needs embedding_dim from its preprocessing")
        frozen = PrecomputedEmbedding(int(embedding_dim))
        if joint:  # a tower of a joint model: its output is in the joint space
            mark_aligned(frozen, cast(JointTower, shared_backbone(name, weights, **options)))
        return frozen
    if mode.lora is not None and not name.startswith(PREFIX):
        raise ValueError(f"train={str(mode)!r} needs an hf: backbone; {name!r} is packaged (use train=last:N or "
                         "train=full, or the same model as hf:PATH)")
    backbone = load_backbone(name, weights, **options)
    backbone.check_weights(weights_digest, f"encoder {name!r}")
    if mode.lora is not None:
        return LoRAEncoder(backbone, mode.lora, getattr(backbone, "lora_targets", tuple)())
    encoder = FineTunedEncoder(backbone, mode)
    if joint:
        mark_aligned(encoder, cast(JointTower, backbone))
    return encoder


def encoder_factory(name: str) -> Callable[..., Encoder]:
    """The factory registered in ``ENCODERS`` under ``name`` (sized by the pretrained preprocessing)."""

    def create(pretrained: str | None = None, train: str = "frozen", weights: str | None = None,
               embedding_dim: int | None = None, options: Mapping[str, Any] | None = None,
               weights_digest: str | None = None) -> Encoder:
        return _build(name, pretrained, train, weights, embedding_dim, dict(options or {}), weights_digest)

    create.__name__ = f"create_{name.replace('-', '_')}"
    create.__doc__ = DESCRIPTIONS[name]
    return create


def hf_encoder_factory(ref: str) -> Callable[..., Encoder]:
    """The factory of encoder ``hf:REF`` (loads nothing until called). ``pooling``, ``max_length`` and
    ``max_seconds`` given as encoder arguments win over the preprocessing's options."""
    name = f"{PREFIX}{ref}"

    def create(pretrained: str | None = None, train: str = "frozen", weights: str | None = None,
               embedding_dim: int | None = None, options: Mapping[str, Any] | None = None,
               weights_digest: str | None = None, pooling: str | None = None, max_length: int | None = None,
               max_seconds: float | None = None) -> Encoder:
        chosen = {k: v for k, v in {"pooling": pooling, "max_length": max_length, "max_seconds": max_seconds}.items()
                  if v is not None}
        return _build(name, pretrained, train, weights, embedding_dim, {**dict(options or {}), **chosen},
                      weights_digest)

    create.__doc__ = HF_DESCRIPTION
    return create


def kind_of(name: str) -> ModalityKind:
    return pretrained_kind(name)


__all__ = [
    "DESCRIPTIONS",
    "FAMILIES",
    "HF_DESCRIPTION",
    "INSTALL_HINT",
    "PREFIX",
    "PRETRAINED",
    "Backbone",
    "EfficientNetLite0",
    "FineTunedEncoder",
    "HFBackbone",
    "HFFamily",
    "HFLoadError",
    "JointTower",
    "LoRAEncoder",
    "MiniLM",
    "MissingDependencyError",
    "PrecomputedEmbedding",
    "Resemblyzer",
    "TrainMode",
    "encoder_factory",
    "expand_joint",
    "family_rows",
    "hf_encoder_factory",
    "is_pretrained",
    "kind_of",
    "load_backbone",
    "shared_backbone",
    "with_pretrained_preprocessing",
]
