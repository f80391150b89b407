"""Late fusion by majority vote."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from polymodal.encoders.layers import masked_mean
from polymodal.fusion.late_mean import LateFusion, to_logits


def masked_median(values: Tensor, present: Tensor) -> Tensor:
    """Median over dim 1 of ``values [B, M, K]`` among present entries (``present [B, M]``); the mean
    of the two middle values for an even count; zeros for a sample with nothing present."""
    mask = present.unsqueeze(-1).expand_as(values)
    ordered = torch.where(mask, values, torch.full_like(values, float("inf"))).sort(dim=1).values
    count = present.sum(dim=1).reshape(-1, 1, 1).expand(-1, 1, values.shape[-1])
    lower = ordered.gather(1, ((count - 1) // 2).clamp_min(0))
    upper = ordered.gather(1, (count // 2).clamp_max(values.shape[1] - 1))
    median = ((lower + upper) / 2).squeeze(1)
    return torch.where(count.squeeze(1) > 0, median, torch.zeros_like(median))


class VoteLateFusion(LateFusion):
    """Majority vote of the present modalities' heads.

    * ``softmax``: each present modality votes for its argmax class; the most votes win, ties broken by
      the mean probability. The output is the logits of ``(votes + mean_probability / 2) / (n + 1/2)``,
      a distribution whose argmax is the vote's winner (the tie-break term is under one vote).
    * ``sigmoid``: per label, the fraction of present modalities predicting it (probability > 1/2); an
      exact tie takes the mean probability.
    * ``identity`` (regression): the median of the present modalities' predictions.

    A hard vote has no useful gradient, so in training mode (``module.train()``) the output is the
    differentiable surrogate of ``late`` fusion, the mean of the present modalities' probabilities
    (regression: predictions); the vote is used in evaluation mode (``module.eval()``).
    A sample with no modality present gets uniform probabilities (regression: zero).

    Example
    -------
    >>> import torch
    >>> f = VoteLateFusion({"a": 3, "b": 2, "c": 1}, num_outputs=4).eval()
    >>> on = torch.ones(5, dtype=torch.bool)
    >>> f({"a": torch.ones(5, 3), "b": torch.ones(5, 2), "c": torch.ones(5, 1)},
    ...   {"a": on, "b": on, "c": on}).shape
    torch.Size([5, 4])
    """

    def forward(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        self.check_inputs(features, masks)
        preds = self.modality_predictions(features, masks)
        present = self.stacked_masks(masks, preds)
        mean = masked_mean(preds, present)
        if self.training:
            return to_logits(mean, self.activation)
        if self.activation == "identity":
            return masked_median(preds, present)
        count = present.to(preds.dtype).sum(dim=1, keepdim=True)  # [B, 1]
        if self.activation == "softmax":
            choice = torch.nn.functional.one_hot(preds.argmax(dim=-1), self.output_dim).to(preds.dtype)
            votes = torch.where(present.unsqueeze(-1), choice, torch.zeros_like(choice)).sum(dim=1)
            probabilities = (votes + mean / 2) / (count + 0.5)
            uniform = torch.full_like(probabilities, 1.0 / self.output_dim)
        else:
            positive = torch.where(present.unsqueeze(-1), (preds > 0.5).to(preds.dtype), torch.zeros_like(preds))
            votes = positive.sum(dim=1)
            probabilities = torch.where(2 * votes == count, mean, votes / count.clamp_min(1.0))
            uniform = torch.full_like(probabilities, 0.5)
        return to_logits(torch.where(count > 0, probabilities, uniform), self.activation)
