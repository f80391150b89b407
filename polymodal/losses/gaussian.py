"""KL divergences of diagonal Gaussians, as the variational objectives need them."""

from __future__ import annotations

import torch
from torch import Tensor


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` per sample, summed over the last dimension.

    ``0.5 * sum(exp(logvar) + mu^2 - 1 - logvar)``.

    Example
    -------
    >>> float(kl_standard_normal(torch.zeros(1, 4), torch.zeros(1, 4))[0])
    0.0
    """
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(dim=-1)


def kl_diagonal(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """``KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p)))`` per sample, summed over the last dimension.

    ``0.5 * sum(logvar_p - logvar_q + (exp(logvar_q) + (mu_q - mu_p)^2) / exp(logvar_p) - 1)``.
    """
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) * torch.exp(-logvar_p) - 1.0).sum(
        dim=-1
    )


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """A sample ``mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``, differentiable in ``mu`` and ``logvar``."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
