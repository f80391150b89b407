"""Cross-modal projection: map one modality into another's (pretrained) embedding space.

Data-level transfer through a shared space: the ``target`` modality's encoder defines the space and
stays frozen (its weights typically come from a pretrained backbone or from another bundle through
``pretrain --init-from``); the ``source`` modality's encoder and a map (linear, or an MLP with
``hidden_dim``) learn, on paired rows, to land each sample where its paired target lands. Afterwards
``embed`` of a source-only row is a point of the target space, so ``retrieve --from SOURCE --to TARGET``
works and anything trained on the target space (a probe, a classifier head) applies to the source.

The target encoder is frozen whatever it is: if it was not transferred, its space is that of a
randomly initialised network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.losses.output import LossOutput
from polymodal.losses.projection import ProjectionLoss, ProjectionMetric
from polymodal.models.representation import RepresentationModel, modality_mean


class ProjectionModel(RepresentationModel):
    """``source`` encoder + map -> the frozen ``target`` encoder's space, trained with ``loss``.

    ``embed`` gives the target encoding of rows with the target modality and the mapped source encoding
    of the others (their mean where both are present).

    Example
    -------
    >>> from polymodal.encoders import build_encoder
    >>> info = {"a": {"kind": "vector", "dim": 3}, "b": {"kind": "vector", "dim": 2}}
    >>> encoders = {n: build_encoder("vector-mlp", i, output_dim=4) for n, i in info.items()}
    >>> model = ProjectionModel(encoders, info, target="b")
    >>> model.source, model.embedding_dim, model.frozen
    ('a', 4, ['encoders.b'])
    """

    def __init__(
        self, encoders: Mapping[str, Encoder], input_info: Mapping[str, Mapping[str, Any]] | None = None,
        target: str | None = None, source: str | None = None, hidden_dim: int = 0,
        loss: ProjectionMetric = "cosine", dropout: float = 0.0,
    ) -> None:
        super().__init__(encoders)
        names = self.modalities
        if len(names) != 2:
            raise ValueError(f"a projection maps one modality into another: it needs exactly two modalities, the "
                             f"table has {names} (ignore the others)")
        if target not in names:
            raise ValueError(f"name the target modality, whose space the other is mapped into: target= one of "
                             f"{names} (got {target!r})")
        other = next(n for n in names if n != target)
        if source is not None and source != other:
            raise ValueError(f"source {source!r} must be the modality other than the target {target!r}: {other!r}")
        self.source, self.target = other, target
        in_dim, out_dim = encoders[other].output_dim, encoders[target].output_dim
        self.embedding_dim = out_dim
        self.mapping: nn.Module = nn.Linear(in_dim, out_dim) if hidden_dim <= 0 else nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim))
        self.loss = ProjectionLoss(loss)
        self.freeze([f"encoders.{target}"])

    def spaces(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Both modalities in the target space: ``{source: mapped, target: encoded}`` ``[B, D]``."""
        features = self.encode(inputs, masks)
        return {self.source: self.mapping(features[self.source]), self.target: features[self.target]}

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        z = self.spaces(inputs, masks)
        paired = masks[self.source].bool() & masks[self.target].bool()
        return self.loss(z[self.source], z[self.target].detach(), paired)

    def embed(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        return modality_mean(self.spaces(inputs, masks), masks)
