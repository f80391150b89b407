"""Soft parameter sharing for multi-task learning: one tower per task, tied softly.

Hard sharing (:class:`~polymodal.models.supervised.FusionModel` with several heads) gives every task the
same encoders and fusion. Soft sharing gives each task its own tower (encoders, fusion, head), built
identically, and ties the towers in one of two ways:

``soft`` (L2)
    Duong et al. (2015): the loss gains ``sharing_weight * sum over pairs of towers of
    ||theta_a - theta_b||^2`` over corresponding parameters of the encoders and the fusion (the heads
    differ in shape and stay free). ``sharing_weight`` 0 gives independent models; a large weight
    approaches hard sharing.

``cross-stitch``
    Misra et al. (2016): after the encoders (for every modality) and after the fusion, a learned
    ``T x T`` matrix mixes the towers' features: ``x~_a = sum_b alpha_ab x_b``. Initialised to
    ``stitch_init`` on the diagonal and ``(1 - stitch_init) / (T - 1)`` elsewhere.

Modality dropout draws one set of masks per batch, shared by all towers.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations

import torch
from torch import Tensor, nn

from polymodal.data.schema import TaskKind
from polymodal.models.supervised import FusionModel

SHARING_MODES = ("hard", "soft", "cross-stitch")


def stitch_matrix(n: int, diagonal: float) -> Tensor:
    """The cross-stitch initialisation: ``diagonal`` on the diagonal, the rest of each row spread evenly."""
    if n == 1:
        return torch.ones(1, 1)
    off = (1.0 - diagonal) / (n - 1)
    return torch.full((n, n), off) + torch.eye(n) * (diagonal - off)


def cross_stitch(alpha: Tensor, features: list[Tensor]) -> list[Tensor]:
    """Mix ``T`` feature tensors of one shape with the ``T x T`` matrix ``alpha``."""
    stacked = torch.stack(features, dim=0)  # [T, B, ...]
    mixed = torch.einsum("ts,s...->t...", alpha, stacked)
    return list(mixed.unbind(0))


class MultiTowerModel(nn.Module):
    """One :class:`FusionModel` tower per target (each with the single head of its target).

    ``forward`` returns ``{target: logits}`` like :class:`FusionModel`; :meth:`training_outputs` adds the
    sharing penalty (``soft``) to the towers' own extra losses.
    """

    def __init__(
        self,
        towers: Mapping[str, FusionModel],
        sharing: str = "soft",
        sharing_weight: float = 1e-2,
        stitch_init: float = 0.9,
    ) -> None:
        super().__init__()
        if sharing not in ("soft", "cross-stitch"):
            raise ValueError(f"MultiTowerModel sharing must be 'soft' or 'cross-stitch', got {sharing!r}")
        if len(towers) < 2:
            raise ValueError(f"soft sharing needs at least two targets (one tower each), got {len(towers)}")
        if sharing_weight < 0:
            raise ValueError(f"sharing_weight must be >= 0, got {sharing_weight}")
        if not 0.0 < stitch_init <= 1.0:
            raise ValueError(f"stitch_init must be in (0, 1], got {stitch_init}")
        for target, tower in towers.items():
            if list(tower.heads) != [target]:
                raise ValueError(f"the tower of {target!r} must have exactly the head {target!r}, "
                                 f"got {list(tower.heads)}")
        self.towers = nn.ModuleDict(dict(towers))
        self.sharing = sharing
        self.sharing_weight = sharing_weight
        first = next(iter(towers.values()))
        self.modality_dropout = first.modality_dropout
        self.late = "shared" not in first.fusions
        n = len(towers)
        if sharing == "cross-stitch":
            self.stitch_modalities = nn.ParameterDict(
                {m: nn.Parameter(stitch_matrix(n, stitch_init)) for m in first.modalities})
            self.stitch_fused = None if self.late else nn.Parameter(stitch_matrix(n, stitch_init))

    @property
    def modalities(self) -> list[str]:
        return self._towers()[0][1].modalities

    def _towers(self) -> list[tuple[str, FusionModel]]:
        return [(name, tower) for name, tower in self.towers.items()]  # type: ignore[misc]

    def _features(self, inputs: Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        towers = self._towers()
        features = {name: tower.encode(inputs) for name, tower in towers}
        if self.sharing == "cross-stitch":
            for m in self.modalities:
                mixed = cross_stitch(self.stitch_modalities[m], [features[name][m] for name, _ in towers])
                for (name, _), value in zip(towers, mixed, strict=True):
                    features[name][m] = value
        return features

    def _fuse(self, features: Mapping[str, Mapping[str, Tensor]], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        towers = self._towers()
        if self.late:
            return {name: tower.fusions[name](features[name], masks) for name, tower in towers}
        fused = [tower.fusions["shared"](features[name], masks) for name, tower in towers]
        if self.sharing == "cross-stitch" and self.stitch_fused is not None:
            fused = cross_stitch(self.stitch_fused, fused)
        return {name: tower.heads[name](f) for (name, tower), f in zip(towers, fused, strict=True)}

    def _masks(self, masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return self._towers()[0][1]._masks(masks)

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return self._fuse(self._features(inputs), self._masks(masks))

    def sharing_penalty(self) -> Tensor:
        """``sum_{a<b} sum_p ||theta_a,p - theta_b,p||^2`` over the encoders' and fusions' parameters."""
        shared: list[dict[str, Tensor]] = []
        for name, tower in self._towers():
            params: dict[str, Tensor] = {f"encoders.{k}": v for k, v in tower.encoders.named_parameters()}
            fusion = tower.fusions["shared"] if "shared" in tower.fusions else tower.fusions[name]
            params.update({f"fusion.{k}": v for k, v in fusion.named_parameters()})
            shared.append(params)
        device = next(self.parameters()).device
        total = torch.zeros((), device=device)
        for a, b in combinations(shared, 2):
            for key, value in a.items():
                other = b.get(key)
                if other is not None and other.shape == value.shape:
                    total = total + (value - other).pow(2).sum()
        return total

    def training_outputs(
        self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor], targets: Mapping[str, Tensor],
        tasks: Mapping[str, TaskKind],
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        features = self._features(inputs)
        masks = self._masks(masks)
        logits = self._fuse(features, masks)
        extras: dict[str, Tensor] = {}
        for name, tower in self._towers():
            extras.update(tower.extra_losses(features[name], masks, targets, {name: tasks[name]}))
        if self.sharing == "soft" and self.sharing_weight > 0:
            extras["sharing_penalty"] = self.sharing_weight * self.sharing_penalty()
        return logits, extras

    def embed(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        """The towers' joint representations, concatenated in target order."""
        features = self._features(inputs)
        masks = {k: v.bool() for k, v in masks.items()}
        parts = []
        for name, tower in self._towers():
            fusion = tower.fusions["shared"] if "shared" in tower.fusions else tower.fusions[name]
            parts.append(fusion(features[name], masks))
        if self.sharing == "cross-stitch" and self.stitch_fused is not None:
            parts = cross_stitch(self.stitch_fused, parts)
        return torch.cat(parts, dim=1)
