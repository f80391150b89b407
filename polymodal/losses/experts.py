"""Joint posteriors of several unimodal Gaussian experts: product (MVAE) and mixture (MMVAE) of experts.

Experts are diagonal Gaussians given as ``{modality: mu [B, D]}`` and ``{modality: logvar [B, D]}``
with a presence mask ``{modality: bool [B]}``; a missing expert takes no part for that sample.
Modalities are visited in sorted order, so the result does not depend on the order of the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from polymodal.losses.gaussian import reparameterize


def product_of_experts(
    mus: Mapping[str, Tensor], logvars: Mapping[str, Tensor], masks: Mapping[str, Tensor], prior: bool = True
) -> tuple[Tensor, Tensor]:
    """The product of the present Gaussian experts (and a ``N(0, I)`` prior expert when ``prior``).

    Precisions add: ``T = sum_i m_i / var_i (+ 1)``, ``mu = (sum_i m_i mu_i / var_i) / T``,
    ``var = 1 / T``. Without the prior, a sample with no expert present gets ``N(0, I)``.

    Returns
    -------
    mu, logvar : ``[B, D]`` each.

    Example
    -------
    >>> mu, logvar = product_of_experts({"a": torch.ones(1, 2)}, {"a": torch.zeros(1, 2)}, {"a": torch.tensor([True])})
    >>> mu.tolist(), logvar.exp().tolist()
    ([[0.5, 0.5]], [[0.5, 0.5]])
    """
    names = sorted(mus)
    if not names:
        raise ValueError("product_of_experts needs at least one expert")
    first = mus[names[0]]
    precision = torch.full_like(first, 1.0 if prior else 0.0)
    weighted = torch.zeros_like(first)
    for name in names:
        present = masks[name].to(first.dtype).unsqueeze(-1)
        p = present * torch.exp(-logvars[name])
        precision = precision + p
        weighted = weighted + p * mus[name]
    if not prior:  # samples without any expert: fall back on N(0, I) rather than divide by zero
        empty = precision == 0
        precision = torch.where(empty, torch.ones_like(precision), precision)
    return weighted / precision, -torch.log(precision)


def mixture_of_experts_sample(
    mus: Mapping[str, Tensor], logvars: Mapping[str, Tensor], masks: Mapping[str, Tensor],
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """One sample per row from the uniform mixture of the present experts.

    Each row picks one of its present experts uniformly at random, then draws from it with the
    reparameterisation trick. Rows with no expert present draw from ``N(0, I)``.

    Returns
    -------
    z : ``[B, D]`` the samples; chosen : ``long [B]`` the index (in sorted names) of each row's expert,
        -1 where no expert was present.
    """
    names = sorted(mus)
    present = torch.stack([masks[n].bool() for n in names], dim=1)  # [B, M]
    weights = present.to(torch.float64)
    any_present = present.any(dim=1)
    weights[~any_present] = 1.0  # avoid an all-zero row in multinomial; masked out below
    chosen = torch.multinomial(weights, 1, generator=generator).squeeze(1)
    mu = torch.stack([mus[n] for n in names], dim=1)[torch.arange(len(chosen)), chosen]
    logvar = torch.stack([logvars[n] for n in names], dim=1)[torch.arange(len(chosen)), chosen]
    mu = torch.where(any_present.unsqueeze(1), mu, torch.zeros_like(mu))
    logvar = torch.where(any_present.unsqueeze(1), logvar, torch.zeros_like(logvar))
    return reparameterize(mu, logvar), torch.where(any_present, chosen, torch.full_like(chosen, -1))
