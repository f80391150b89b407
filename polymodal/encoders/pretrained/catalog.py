"""The pretrained backbones by name, and loading them (fresh for training, shared for preprocessing).

A name is a packaged backbone (``minilm``, ``efficientnet-lite0``, ``resemblyzer``) or ``hf:NAME_OR_PATH``
(any Hugging Face model of a known family, see :mod:`~polymodal.encoders.pretrained.hf`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from polymodal.data.kinds import ModalityKind
from polymodal.encoders.pretrained.backbone import Backbone
from polymodal.encoders.pretrained.efficientnet_lite import EfficientNetLite0
from polymodal.encoders.pretrained.hf import HFBackbone, hf_kind
from polymodal.encoders.pretrained.hf_loading import PREFIX, fingerprint
from polymodal.encoders.pretrained.joint import DESCRIPTIONS as JOINT_DESCRIPTIONS
from polymodal.encoders.pretrained.joint import JOINT_TOWERS
from polymodal.encoders.pretrained.minilm import MiniLM
from polymodal.encoders.pretrained.resemblyzer import Resemblyzer

_BACKBONES: tuple[type[Backbone], ...] = (MiniLM, EfficientNetLite0, Resemblyzer, *JOINT_TOWERS)
PRETRAINED: dict[str, type[Backbone]] = {cls.name: cls for cls in _BACKBONES}
DESCRIPTIONS = {
    "minilm": "pretrained all-MiniLM-L6-v2 sentence embeddings (384-d), or a local transformers model",
    "efficientnet-lite0": "pretrained EfficientNet-Lite0 ImageNet features (1280-d), or a local checkpoint",
    "resemblyzer": "pretrained Resemblyzer GE2E voice embeddings (256-d) of 16 kHz audio",
    **JOINT_DESCRIPTIONS,
}
HF_DESCRIPTION = ("any Hugging Face text, image or audio model by hub name or local folder (families: polymodal "
                  "encoders); pooling=cls|mean|pooler, max_length (text), max_seconds (audio), train=lora:r=8")
_LOADED: dict[tuple[Any, ...], Backbone] = {}


def is_pretrained(name: Any) -> bool:
    """Whether encoder ``name`` is a pretrained backbone (packaged, or ``hf:...``)."""
    return isinstance(name, str) and (name in PRETRAINED or name.startswith(PREFIX))


def _check(name: str) -> None:
    if not is_pretrained(name):
        raise ValueError(f"unknown pretrained encoder {name!r}; known: {', '.join(sorted(PRETRAINED))} "
                         f"and {PREFIX}NAME_OR_PATH")


def pretrained_kind(name: str) -> ModalityKind:
    """The kind backbone ``name`` encodes (an ``hf:`` model's config is read, nothing else)."""
    _check(name)
    return hf_kind(name) if name.startswith(PREFIX) else PRETRAINED[name].kind


def pretrained_defaults(name: str) -> Mapping[str, Any]:
    """The preparation options of backbone ``name`` and their defaults."""
    _check(name)
    return HFBackbone.defaults if name.startswith(PREFIX) else PRETRAINED[name].defaults


def load_backbone(name: str, weights: str | Path | None = None, **options: Any) -> Backbone:
    """A new backbone ``name`` with its weights (packaged, or ``weights``) and preparation ``options``."""
    _check(name)
    if name.startswith(PREFIX):
        return HFBackbone(name, None if weights is None else str(weights), **options)
    return PRETRAINED[name](weights=weights, **options)


def shared_backbone(name: str, weights: str | Path | None = None, **options: Any) -> Backbone:
    """The backbone ``name`` in eval mode, loaded once per process (never trained: for preprocessing); a local
    ``hf:`` folder whose files changed is loaded again."""
    key = (name, None if weights is None else str(weights), tuple(sorted(options.items())),
           fingerprint(name) if name.startswith(PREFIX) else ())
    if key not in _LOADED:
        _LOADED[key] = load_backbone(name, weights, **options).eval().requires_grad_(False)
    return _LOADED[key]
