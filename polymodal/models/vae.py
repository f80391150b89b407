"""A multimodal VAE whose joint posterior is a product (MVAE), mixture (MMVAE) or mixture of products
(MoPoE-VAE) of the unimodal Gaussian posteriors."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import torch
from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.losses.experts import product_of_experts
from polymodal.losses.gaussian import kl_standard_normal, reparameterize
from polymodal.losses.output import LossOutput
from polymodal.models.decoders import DecoderSet
from polymodal.models.representation import RepresentationModel, masked_batch_mean, modality_mean, random_subsets
from polymodal.models.translation import check_translation, source_only

JOINTS = ("poe", "moe", "mopoe")
LOGVAR_RANGE = (-10.0, 10.0)


class MultimodalVAE(RepresentationModel):
    """Each modality's encoder gives a diagonal Gaussian ``q(z | x_m)``; the joint posterior is

    * ``"poe"`` (Wu & Goodman 2018): the product of the present experts and a ``N(0, I)`` prior expert.
      Training adds to the joint ELBO the ELBO of a random subset of each sample's modalities
      (uniform over non-empty subsets), so that every subset learns to encode;
    * ``"moe"`` (Shi et al. 2019): the uniform mixture of the present experts; the ELBO is averaged
      over the experts, each sample reconstructing every present modality (stratified sampling);
    * ``"mopoe"`` (Sutter et al. 2021): the uniform mixture of the products over every non-empty
      subset of the present modalities; training draws one subset per sample.

    ``ELBO loss = reconstruction + beta * KL(q || N(0, I))``, per sample (reconstruction as in
    :mod:`polymodal.models.decoders`, summed over modalities with ``likelihood`` weights: ``"sum"``
    weighs each element alike, so a large modality (a spectrogram) outweighs a small one (a digit);
    ``"balanced"`` scales each modality by (largest size / its size), as MMVAE and MoPoE-VAE do, or
    give ``{modality: weight}``). In evaluation mode the latent is the posterior mean, so the
    validation loss is deterministic. ``embed`` is the mean of the joint posterior given the
    present modalities; :meth:`generate` decodes every modality from a chosen subset.
    """

    def __init__(
        self, encoders: Mapping[str, Encoder], input_info: Mapping[str, Mapping[str, Any]], latent_dim: int = 16,
        hidden_dim: int = 128, joint: str = "poe", beta: float = 1.0,
        likelihood: str | Mapping[str, float] = "sum",
    ) -> None:
        super().__init__(encoders)
        if joint not in JOINTS:
            raise ValueError(f"unknown joint posterior {joint!r}; valid: {', '.join(JOINTS)}")
        if latent_dim <= 0 or beta < 0:
            raise ValueError(f"latent_dim must be positive and beta >= 0; got {latent_dim}, {beta}")
        self.embedding_dim, self.joint, self.beta = latent_dim, joint, beta
        self.posteriors = nn.ModuleDict({n: nn.Linear(e.output_dim, 2 * latent_dim) for n, e in encoders.items()})
        self.decoders = DecoderSet(latent_dim, input_info, self.modalities, hidden_dim)
        self.likelihood_weights = self._likelihood_weights(likelihood)

    def _likelihood_weights(self, likelihood: str | Mapping[str, float]) -> dict[str, float]:
        if isinstance(likelihood, Mapping):
            unknown = sorted(set(likelihood) - set(self.modalities))
            if unknown or any(float(w) < 0 for w in likelihood.values()):
                raise ValueError(f"likelihood weights are non-negative numbers per modality of {self.modalities}; "
                                 f"got {dict(likelihood)}")
            return {n: float(likelihood.get(n, 1.0)) for n in self.modalities}
        if likelihood == "sum":
            return dict.fromkeys(self.modalities, 1.0)
        if likelihood == "balanced":  # as MMVAE / MoPoE rescale: every modality weighs as much as the largest
            sizes = {n: math.prod(self.decoders[n].shape) for n in self.modalities}
            return {n: max(sizes.values()) / sizes[n] for n in self.modalities}
        raise ValueError(f"likelihood must be 'sum', 'balanced' or {{modality: weight}}, got {likelihood!r}")

    # -- posteriors ---------------------------------------------------------------------------
    def experts(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> tuple[dict[str, Tensor],
                                                                                          dict[str, Tensor]]:
        """Each modality's posterior ``(mu, logvar)``, ``{name: [B, latent_dim]}`` each."""
        mus, logvars = {}, {}
        for name, features in self.encode(inputs, masks).items():
            mu, logvar = self.posteriors[name](features).chunk(2, dim=1)
            mus[name], logvars[name] = mu, logvar.clamp(*LOGVAR_RANGE)
        return mus, logvars

    def posterior_mean(self, mus: Mapping[str, Tensor], logvars: Mapping[str, Tensor],
                       masks: Mapping[str, Tensor]) -> Tensor:
        """The mean of the joint posterior given the modalities present in ``masks``."""
        if self.joint == "poe":
            return product_of_experts(mus, logvars, masks)[0]
        if self.joint == "moe":
            return modality_mean(mus, masks)
        means, valid = [], []
        for subset in self._subsets():
            sub_masks = _subset_masks(masks, subset)
            means.append(product_of_experts({n: mus[n] for n in subset}, {n: logvars[n] for n in subset},
                                            sub_masks)[0])
            valid.append(torch.stack([sub_masks[n] for n in subset], dim=1).all(dim=1))
        return modality_mean({str(i): m for i, m in enumerate(means)}, {str(i): v for i, v in enumerate(valid)})

    def _subsets(self) -> list[tuple[str, ...]]:
        return [s for k in range(1, len(self.modalities) + 1) for s in combinations(self.modalities, k)]

    # -- objective ----------------------------------------------------------------------------
    def elbo(self, mu: Tensor, logvar: Tensor, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor],
             encoded: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Per-sample reconstruction (of every present modality) and KL of the posterior ``(mu, logvar)``.

        ``encoded`` marks the samples whose posterior came from at least one modality.
        """
        z = reparameterize(mu, logvar) if self.training else mu
        losses = self.decoders.losses(self.decoders(z), inputs, masks)
        recon = {n: self.likelihood_weights[n] * r for n, r in losses.items()}
        per_modality = {n: masked_batch_mean(r, masks[n] & encoded) for n, r in recon.items()}
        total_recon = torch.stack(list(recon.values()), dim=1).sum(dim=1)
        return total_recon, kl_standard_normal(mu, logvar), per_modality

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        masks = {n: masks[n].bool() for n in self.modalities}
        mus, logvars = self.experts(inputs, masks)
        any_present = torch.stack(list(masks.values()), dim=1).any(dim=1)
        if self.joint == "moe":
            return self._moe_loss(mus, logvars, inputs, masks, any_present)
        if self.joint == "mopoe" and self.training:
            terms = [("subset", random_subsets(masks))]
        else:
            terms = [("joint", masks)]
            if self.training:  # MVAE sub-sampling: the joint ELBO plus one random subset's
                terms.append(("subset", random_subsets(masks)))
        total = mus[self.modalities[0]].new_zeros(())
        components: dict[str, Tensor] = {}
        for label, enc_masks in terms:
            mu, logvar = product_of_experts(mus, logvars, enc_masks)
            recon, kl, per_modality = self.elbo(mu, logvar, inputs, masks, any_present)
            loss = masked_batch_mean(recon + self.beta * kl, any_present)
            total = total + loss
            components[f"kl_{label}"] = masked_batch_mean(kl, any_present).detach()
            components.update({f"recon_{n}_{label}": v.detach() for n, v in per_modality.items()})
        return LossOutput(total, components)

    def _moe_loss(self, mus: Mapping[str, Tensor], logvars: Mapping[str, Tensor], inputs: Mapping[str, Tensor],
                  masks: Mapping[str, Tensor], any_present: Tensor) -> LossOutput:
        per_sample = mus[self.modalities[0]].new_zeros(any_present.shape)
        components: dict[str, Tensor] = {}
        for name in self.modalities:
            recon, kl, _ = self.elbo(mus[name], logvars[name], inputs, masks, masks[name])
            per_sample = per_sample + masks[name].to(recon.dtype) * (recon + self.beta * kl)
            components[f"kl_{name}"] = masked_batch_mean(kl, masks[name]).detach()
            components[f"recon_from_{name}"] = masked_batch_mean(recon, masks[name]).detach()
        count = torch.stack(list(masks.values()), dim=1).sum(dim=1).clamp_min(1).to(per_sample.dtype)
        return LossOutput(masked_batch_mean(per_sample / count, any_present), components)

    # -- use ----------------------------------------------------------------------------------
    def embed(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        masks = {n: masks[n].bool() for n in self.modalities}
        mus, logvars = self.experts(inputs, masks)
        return self.posterior_mean(mus, logvars, masks)

    @torch.no_grad()
    def generate(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor],
                 from_modalities: Sequence[str]) -> dict[str, Tensor]:
        """Every modality decoded from the posterior mean given only ``from_modalities`` (where present).

        Returns ``{name: tensor}`` in the layout of each modality's preprocessed input: the missing
        modalities are generated, the given ones reconstructed.
        """
        unknown = sorted(set(from_modalities) - set(self.modalities))
        if unknown or not from_modalities:
            raise ValueError(f"generate from modalities {list(from_modalities)}: give one or more of "
                             f"{self.modalities}" + (f"; unknown: {unknown}" if unknown else ""))
        given = {n: masks[n].bool() if n in from_modalities else torch.zeros_like(masks[n], dtype=torch.bool)
                 for n in self.modalities}
        z = self.embed(inputs, given)
        return self.decoders.reconstruct(z)

    stochastic = False

    @torch.no_grad()
    def translate(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor], source: str, target: str,
                  generator: torch.Generator | None = None) -> Tensor:
        """``target`` decoded from the posterior mean given ``source`` alone (deterministic: ``generator``
        is not used); see :mod:`polymodal.models.translation`."""
        check_translation(self.modalities, source, target)
        z = self.embed(inputs, source_only(masks, source))
        return self.decoders[target].reconstruct(self.decoders[target](z))


def _subset_masks(masks: Mapping[str, Tensor], subset: Sequence[str]) -> dict[str, Tensor]:
    return {n: masks[n].bool() for n in subset}
