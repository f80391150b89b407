"""The contract of models that generate one modality from another (cross-modal translation).

A translator implements ``translate(inputs, masks, source, target, generator=None) -> Tensor``: the
``target`` modality of every row of the batch generated from its ``source`` modality alone, in the
layout of ``target``'s preprocessed input (``[B, C, H, W]`` for an image, ``[B, 1, n_mels, n_frames]`` for
audio). ``stochastic`` says whether two calls may differ (a GAN draws noise from ``generator``); a
deterministic translator (the VAE's posterior mean, the autoencoder) gives one sample per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor


@runtime_checkable
class Translator(Protocol):
    stochastic: bool

    def translate(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor], source: str, target: str,
                  generator: torch.Generator | None = None) -> Tensor: ...


def check_translation(modalities: Sequence[str], source: str, target: str) -> None:
    """A ValueError unless ``source`` and ``target`` are two different modalities of the model."""
    unknown = [m for m in (source, target) if m not in modalities]
    if unknown:
        raise ValueError(f"unknown modality {unknown[0]!r}; the model's modalities: {list(modalities)}")
    if source == target:
        raise ValueError(f"source and target are both {source!r}; translate between two different modalities")


def source_only(masks: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """The masks with every modality but ``source`` marked missing."""
    return {n: m.bool() if n == source else torch.zeros_like(m, dtype=torch.bool) for n, m in masks.items()}
