"""Augmentations per modality kind, by name, applied to batch tensors during training.

==============  ==========  ===========================================================
name            kinds       what it does
==============  ==========  ===========================================================
crop            image       random resized crop (``scale``, ``ratio`` ranges)
flip            image       left-right mirror with probability ``p``
blur            image       Gaussian blur of random ``sigma`` (a range) with probability ``p``
noise           image,      Gaussian noise of ``std`` (inputs are standardised)
                audio,
                vector
time_shift      audio       roll along time by up to ``max_fraction`` of the frames
time_mask       audio       SpecAugment time masks (``max_width``, ``count``)
freq_mask       audio       SpecAugment frequency masks (``max_width``, ``count``)
word_dropout    text        words replaced by the unknown token with probability ``p``
==============  ==========  ===========================================================

A spec maps a modality name or kind to ``"default"`` (:data:`DEFAULTS` of its kind), ``"none"``,
a list of names, or ``{name: {argument: value}}``; a modality's own entry wins over its kind's.

Example
-------
>>> import torch
>>> augment = Augmenter.from_spec({"image": ["crop", "noise"]}, {"photo": "image"})
>>> augment.train()({"photo": torch.zeros(2, 1, 8, 8)})["photo"].shape
torch.Size([2, 1, 8, 8])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from polymodal.augment.audio import FrequencyMask, TimeMask, TimeShift
from polymodal.augment.base import Augmentation, GaussianNoise
from polymodal.augment.image import GaussianBlur, RandomCrop, RandomFlip
from polymodal.augment.text import WordDropout
from polymodal.data.kinds import ModalityKind
from polymodal.registry import Registry

AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")
for _name, _cls, _text in (
    ("crop", RandomCrop, "random resized crop of an image"),
    ("flip", RandomFlip, "left-right mirror of an image"),
    ("blur", GaussianBlur, "Gaussian blur of an image"),
    ("noise", GaussianNoise, "Gaussian noise on standardised image, audio or vector inputs"),
    ("time_shift", TimeShift, "roll a spectrogram along time"),
    ("time_mask", TimeMask, "SpecAugment time masks"),
    ("freq_mask", FrequencyMask, "SpecAugment frequency masks"),
    ("word_dropout", WordDropout, "words replaced by the unknown token"),
):
    AUGMENTATIONS.register(_name, _text)(_cls)

DEFAULTS: dict[ModalityKind, dict[str, dict[str, Any]]] = {
    ModalityKind.IMAGE: {"crop": {}, "noise": {"std": 0.05}},
    ModalityKind.AUDIO: {"time_shift": {}, "time_mask": {}, "freq_mask": {}, "noise": {"std": 0.05}},
    ModalityKind.TEXT: {"word_dropout": {}},
    ModalityKind.VECTOR: {"noise": {"std": 0.05}},
    ModalityKind.TABULAR: {},
}


def _steps(value: Any, modality: str, kind: ModalityKind) -> dict[str, dict[str, Any]]:
    if value is None or value == "none":
        return {}
    if value == "default":
        return DEFAULTS[kind]
    if isinstance(value, str):
        value = [value]
    if isinstance(value, (list, tuple)):
        return {str(name): {} for name in value}
    if isinstance(value, Mapping):
        return {str(name): dict(args or {}) for name, args in value.items()}
    raise ValueError(f"augmentations of {modality!r} must be 'default', 'none', a list of names or "
                     f"{{name: arguments}}, got {value!r}")


def build_augmentation(modality: str, kind: ModalityKind | str, value: Any) -> nn.Sequential | None:
    """The augmentations ``value`` describes for one modality, checked against its kind; None if none."""
    kind = ModalityKind(kind)
    steps = []
    for name, args in _steps(value, modality, kind).items():
        entry = AUGMENTATIONS.get(name)
        cls = entry.factory
        if isinstance(cls, type) and issubclass(cls, Augmentation) and kind not in cls.kinds:
            applies = ", ".join(sorted(k.value for k in cls.kinds))
            raise ValueError(f"augmentation {name!r} applies to {applies}, not to {kind.value} modality {modality!r}")
        steps.append(AUGMENTATIONS.create(name, **args))
    return nn.Sequential(*steps) if steps else None


def input_kinds(input_info: Mapping[str, Mapping[str, Any]],
                kinds: Mapping[str, ModalityKind | str]) -> dict[str, ModalityKind]:
    """The kind of each modality's batch tensor: its own, except that a frozen pretrained encoder's
    precomputed embeddings are vectors (a crop of an embedding means nothing)."""
    out = {}
    for name, kind in kinds.items():
        info = input_info.get(name, {})
        frozen = info.get("pretrained") is not None and info.get("train", "frozen") == "frozen"
        out[name] = ModalityKind.VECTOR if frozen else ModalityKind(kind)
    return out


class Augmenter(nn.Module):
    """Per-modality augmentations; identity in eval mode and for modalities without any."""

    def __init__(self, augmentations: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.augmentations = nn.ModuleDict(dict(augmentations))

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], kinds: Mapping[str, ModalityKind | str],
                  batch_kinds: Mapping[str, ModalityKind | str] | None = None) -> Augmenter:
        """Augmentations for the modalities ``kinds`` (name -> kind) from ``spec`` (see the module doc).

        ``batch_kinds`` (default ``kinds``) are the kinds of the batch tensors the augmentations act
        on and are checked against (see :func:`input_kinds`). A key of ``spec`` that is neither a
        modality nor a kind is an error.
        """
        batch = dict(batch_kinds or kinds)
        valid = {*kinds, *(ModalityKind(k).value for k in kinds.values())}
        unknown = sorted(set(spec) - valid)
        if unknown:
            raise ValueError(f"augmentations for unknown modality or kind {unknown}; the modalities and kinds: "
                             f"{sorted(valid)}")
        built = {}
        for name, kind in kinds.items():
            value = spec.get(name, spec.get(ModalityKind(kind).value))
            steps = build_augmentation(name, batch.get(name, kind), value)
            if steps is not None:
                built[name] = steps
        return cls(built)

    def forward(self, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if not self.training:
            return dict(inputs)
        return {n: self.augmentations[n](x) if n in self.augmentations else x for n, x in inputs.items()}

    def __bool__(self) -> bool:
        return len(self.augmentations) > 0


__all__ = ["AUGMENTATIONS", "DEFAULTS", "Augmentation", "Augmenter", "build_augmentation", "input_kinds"]
