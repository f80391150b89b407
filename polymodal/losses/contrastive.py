"""CLIP-style symmetric InfoNCE (Radford et al. 2021) between modalities, with a learnable temperature.

Under data-parallel training (``torch.distributed`` initialised with more than one process) the
negatives are the rows of every process: the embeddings are gathered with gradients by
:func:`polymodal.losses.distributed.gather_rows`, and each process computes the loss of the global
batch, so the loss and the DDP-averaged gradients equal those of one process on the whole batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.losses.distributed import gather_rows
from polymodal.losses.output import LossOutput


def info_nce(za: Tensor, zb: Tensor, temperature: float | Tensor) -> Tensor:
    """Symmetric InfoNCE of paired rows: row ``i`` of ``za`` and of ``zb`` are the positive pair.

    Both are L2-normalised; ``logits = za @ zb.T / temperature``; the loss is the mean of the
    cross-entropy of each row (``za`` -> ``zb``) and of each column (``zb`` -> ``za``) against the
    diagonal. Under DDP the rows of every process are gathered first (see the module docstring).

    Example
    -------
    >>> z = torch.eye(3)
    >>> round(float(info_nce(z, z, 1.0)), 4)  # log(e + 2) - 1
    0.5514
    """
    _check_pair(za, zb)
    return _symmetric_info_nce(gather_rows(za), gather_rows(zb), temperature)


def _check_pair(za: Tensor, zb: Tensor) -> None:
    if za.dim() != 2 or za.shape != zb.shape:
        raise ValueError(f"info_nce needs two [B, D] tensors of the same shape; got {list(za.shape)} "
                         f"and {list(zb.shape)}")


def _symmetric_info_nce(za: Tensor, zb: Tensor, temperature: float | Tensor) -> Tensor:
    logits = F.normalize(za, dim=1) @ F.normalize(zb, dim=1).T / temperature
    labels = torch.arange(za.shape[0], device=za.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def multimodal_info_nce(
    embeddings: Mapping[str, Tensor], masks: Mapping[str, Tensor], temperature: float | Tensor
) -> LossOutput:
    """The sum of :func:`info_nce` over every pair of modalities (sorted names).

    A pair uses only the samples where both modalities are present; a pair with fewer than two such
    samples has no negatives and is left out (its component is 0). Under DDP the pairs' rows are
    gathered from every process and the count is that of the global batch.
    """
    names = sorted(embeddings)
    if len(names) < 2:
        raise ValueError(f"contrastive learning needs at least two modalities; got {names}")
    first = embeddings[names[0]]
    total = first.new_zeros(())
    components: dict[str, Tensor] = {}
    for a, b in combinations(names, 2):
        both = masks[a].bool() & masks[b].bool()
        za, zb = embeddings[a][both], embeddings[b][both]
        _check_pair(za, zb)
        za, zb = gather_rows(za), gather_rows(zb)
        if za.shape[0] < 2:
            components[f"nce_{a}_{b}"] = first.new_zeros(())
            continue
        term = _symmetric_info_nce(za, zb, temperature)
        components[f"nce_{a}_{b}"] = term.detach()
        total = total + term
    return LossOutput(total, components)


class LearnableTemperature(nn.Module):
    """CLIP's temperature: a learned log logit-scale, ``temperature = 1 / min(exp(log_scale), max_scale)``.

    Parameters
    ----------
    initial : starting temperature (CLIP: 0.07).
    max_scale : largest logit scale ``1 / temperature`` (CLIP clamps it at 100).
    learnable : False keeps the temperature fixed at ``initial``.
    """

    def __init__(self, initial: float = 0.07, max_scale: float = 100.0, learnable: bool = True) -> None:
        super().__init__()
        if not initial > 0:
            raise ValueError(f"the temperature must be positive, got {initial}")
        if not max_scale >= 1 / initial:
            raise ValueError(f"max_scale {max_scale} is below the initial logit scale 1/{initial}")
        self.max_scale = float(max_scale)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / initial)), requires_grad=learnable)

    def forward(self) -> Tensor:
        """The current temperature (a scalar tensor)."""
        return 1.0 / self.log_scale.exp().clamp(max=self.max_scale)


class InfoNCELoss(nn.Module):
    """:func:`multimodal_info_nce` with a :class:`LearnableTemperature`; logs the temperature too."""

    def __init__(self, temperature: float = 0.07, max_scale: float = 100.0, learnable: bool = True) -> None:
        super().__init__()
        self.temperature = LearnableTemperature(temperature, max_scale, learnable)

    def forward(self, embeddings: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        t = self.temperature()
        out = multimodal_info_nce(embeddings, masks, t)
        out.components["temperature"] = t.detach()
        return out
