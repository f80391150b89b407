"""Late fusion by stacking: a meta-model over the modalities' predictions."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from polymodal.fusion.late_mean import LateFusion, to_probabilities


class StackingLateFusion(LateFusion):
    """A meta-model (linear, or an MLP with one hidden layer of ``hidden_dim``) reads the concatenated
    per-modality probabilities (regression: predictions), zeroed for missing modalities, plus one
    presence indicator per modality, and returns the task's logits.

    The meta-model's input is *detached*: it learns to combine the heads' predictions without the
    heads co-adapting to it (as in stacked generalisation, where the base models are fit first). The
    per-modality heads therefore get no gradient from :meth:`forward`; they train on their own loss,
    computed on :meth:`auxiliary_logits`. The training engine looks for that method and adds, for
    every modality, the task loss of ``auxiliary_logits(features)[present, m]``; a loop that does not
    leaves the heads at their initialisation.

    Example
    -------
    >>> import torch
    >>> f = StackingLateFusion({"a": 3, "b": 2}, num_outputs=4)
    >>> on = torch.ones(5, dtype=torch.bool)
    >>> features = {"a": torch.ones(5, 3), "b": torch.ones(5, 2)}
    >>> f(features, {"a": on, "b": on}).shape, f.auxiliary_logits(features).shape
    (torch.Size([5, 4]), torch.Size([5, 2, 4]))
    """

    def __init__(
        self,
        input_dims: Mapping[str, int],
        num_outputs: int,
        activation: str = "softmax",
        hidden_dim: int | None = None,
    ) -> None:
        super().__init__(input_dims, num_outputs, activation)
        width = len(self.modalities) * (self.output_dim + 1)
        if hidden_dim is None:
            self.meta: nn.Module = nn.Linear(width, self.output_dim)
        elif hidden_dim <= 0:
            raise ValueError(f"hidden_dim must be positive (or None for a linear meta-model), got {hidden_dim}")
        else:
            self.meta = nn.Sequential(nn.Linear(width, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, self.output_dim))

    def auxiliary_logits(self, features: Mapping[str, Tensor]) -> Tensor:
        """Per-modality logits ``[B, M, num_outputs]`` (modalities in ``self.modalities`` order), for the
        heads' own loss; the caller keeps only the samples where each modality is present."""
        return self.modality_logits(features)

    def meta_inputs(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        """The meta-model's input ``[B, M * num_outputs + M]``: detached predictions, then indicators."""
        self.check_inputs(features, masks)
        logits = self.modality_logits(features, masks).detach()
        present = self.stacked_masks(masks, logits)
        preds = to_probabilities(logits, self.activation)
        preds = torch.where(present.unsqueeze(-1), preds, torch.zeros_like(preds))
        return torch.cat([preds.flatten(1), present.to(preds.dtype)], dim=1)

    def forward(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        return self.meta(self.meta_inputs(features, masks))
