"""Fitting a linear model on fixed features, for stacking's cross-fitted base heads and meta-model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def fit_linear(x: Tensor, y: Tensor, activation: str, out_dim: int, l2: float = 1e-3,
               max_iter: int = 200) -> tuple[Tensor, Tensor]:
    """Weights ``[out_dim, D]`` and bias ``[out_dim]`` of a linear model fitted by L-BFGS.

    ``activation`` says the loss: ``softmax`` (``y`` class indices, cross-entropy), ``sigmoid`` (``y``
    0/1 of shape ``[N, out_dim]``, binary cross-entropy), ``identity`` (``y`` values ``[N, out_dim]``,
    squared error). ``l2`` penalises the weights (not the bias). Deterministic for given inputs.
    """
    x = x.detach().double()
    weight = torch.zeros(out_dim, x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(out_dim, dtype=torch.float64, requires_grad=True)
    target = y.detach().long().reshape(-1) if activation == "softmax" else y.detach().double().reshape(len(x), -1)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        logits = x @ weight.T + bias
        if activation == "softmax":
            loss = F.cross_entropy(logits, target)
        elif activation == "sigmoid":
            loss = F.binary_cross_entropy_with_logits(logits, target)
        else:
            loss = F.mse_loss(logits, target)
        loss = loss + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()
