"""The pretrained backbones by name, and loading them (fresh for training, shared for preprocessing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polymodal.encoders.pretrained.backbone import Backbone
from polymodal.encoders.pretrained.efficientnet_lite import EfficientNetLite0
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
_LOADED: dict[tuple[str, str | None, tuple[tuple[str, Any], ...]], Backbone] = {}


def load_backbone(name: str, weights: str | Path | None = None, **options: Any) -> Backbone:
    """A new backbone ``name`` with its weights (packaged, or ``weights``) and preparation ``options``."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained encoder {name!r}; known: {', '.join(sorted(PRETRAINED))}")
    return PRETRAINED[name](weights=weights, **options)


def shared_backbone(name: str, weights: str | Path | None = None, **options: Any) -> Backbone:
    """The backbone ``name`` in eval mode, loaded once per process (never trained: for preprocessing)."""
    key = (name, None if weights is None else str(weights), tuple(sorted(options.items())))
    if key not in _LOADED:
        _LOADED[key] = load_backbone(name, weights, **options).eval().requires_grad_(False)
    return _LOADED[key]


