"""Late fusion by stacking: a meta-model over the modalities' predictions."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from polymodal.fusion.late_mean import LateFusion, to_probabilities
from polymodal.fusion.linear_fit import fit_linear


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

    Trained end to end, the meta-model sees the heads' predictions on the samples they were trained
    on, which are over-confident. After training, :meth:`fit_stacking` does stacked generalisation
    properly (Wolpert 1992, as scikit-learn's ``StackingClassifier``): on the training rows' features
    from the now frozen encoders, each modality's head is fitted ``n_folds`` times and predicts the fold
    it did not see; the meta-model is refitted on those held-out predictions; the heads are finally
    refitted on all rows. ``polymodal fit`` calls it on the training split.

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

    def _meta_features(self, preds: Tensor, present: Tensor) -> Tensor:
        probs = to_probabilities(preds, self.activation)
        probs = torch.where(present.unsqueeze(-1), probs, torch.zeros_like(probs))
        return torch.cat([probs.flatten(1), present.to(probs.dtype)], dim=1)

    @torch.no_grad()
    def fit_stacking(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor], target: Tensor,
                     n_folds: int = 5, seed: int = 0, l2: float = 1e-3) -> None:
        """Refit the heads and the meta-model by cross-fitting on fixed ``features`` (see the class
        docstring). ``target``: class indices (softmax), 0/1 ``[N, K]`` (sigmoid) or values ``[N, K]``."""
        if n_folds < 2:
            raise ValueError(f"n_folds must be at least 2, got {n_folds}")
        n = len(target)
        if n < n_folds:
            raise ValueError(f"stacking needs at least n_folds={n_folds} rows to cross-fit, got {n}")
        generator = torch.Generator().manual_seed(seed)
        fold = torch.randperm(n, generator=generator) % n_folds
        present = torch.stack([masks[m].bool().cpu() for m in self.modalities], dim=1)
        held_out = torch.zeros(n, len(self.modalities), self.output_dim, dtype=torch.float64)
        target = target.cpu()
        for i, m in enumerate(self.modalities):
            x = features[m].detach().cpu()
            for k in range(n_folds):
                train = (fold != k) & present[:, i]
                test = (fold == k) & present[:, i]
                if not test.any():
                    continue
                if train.sum() < 2:
                    raise ValueError(f"stacking: fold {k} leaves fewer than 2 rows with modality {m!r} to fit on")
                w, b = fit_linear(x[train], target[train], self.activation, self.output_dim, l2)
                held_out[test, i] = x[test].double() @ w.T + b
            keep = present[:, i]
            if keep.sum() >= 2:
                w, b = fit_linear(x[keep], target[keep], self.activation, self.output_dim, l2)
                head = self.heads[m]
                if not isinstance(head, nn.Linear):  # pragma: no cover - LateFusion builds Linear heads
                    raise TypeError(f"stacking expects linear heads, got {type(head).__name__}")
                head.weight.copy_(w.to(head.weight))
                head.bias.copy_(b.to(head.bias))
        meta_x = self._meta_features(held_out, present)
        if isinstance(self.meta, nn.Linear):
            w, b = fit_linear(meta_x, target, self.activation, self.output_dim, l2)
            self.meta.weight.copy_(w.to(self.meta.weight))
            self.meta.bias.copy_(b.to(self.meta.bias))
        else:
            self._train_meta(meta_x.float(), target)

    def _train_meta(self, x: Tensor, target: Tensor, steps: int = 300) -> None:
        """Full-batch Adam for a hidden-layer meta-model on the held-out predictions."""
        device = next(self.meta.parameters()).device
        x, target = x.to(device), target.to(device)
        optimizer = torch.optim.Adam(self.meta.parameters(), lr=1e-2, weight_decay=1e-4)
        with torch.enable_grad():
            for _ in range(steps):
                optimizer.zero_grad()
                logits = self.meta(x)
                if self.activation == "softmax":
                    loss = torch.nn.functional.cross_entropy(logits, target.long().reshape(-1))
                elif self.activation == "sigmoid":
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target.float())
                else:
                    loss = torch.nn.functional.mse_loss(logits, target.float())
                loss.backward()
                optimizer.step()
