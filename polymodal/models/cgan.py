"""Cross-modal translation with a conditional GAN: modality ``target`` generated from modality ``source``.

Generator ``G(z, s)``: noise ``z ~ N(0, I)`` (``noise_dim``) concatenated with a learned projection of the
generator's features of the source ``s`` (``condition_dim``), decoded by the target kind's
:class:`~polymodal.models.decoders.ModalityDecoder` into the target's preprocessed tensor space and bounded
there by ``scale * tanh(.) + shift`` with a learned scale and shift (as DCGAN's tanh output bounds pixels,
without assuming the preprocessing's range).

Discriminator ``D(x, h)``, a projection discriminator (Miyato & Koyama 2018): ``h = encoder_source(s)`` and
the target's encoder gives ``f = leaky_relu(encoder_target(x))``; ``D(x, h) = w . f + b + (V h) . f``.
It is matching-aware (Reed et al. 2016): besides real pairs (label real) and generated ones (label fake),
real targets paired with another row's source (the batch rolled by one) are labelled fake, with weight
``mismatch_weight``, so that D judges whether a target fits its source and not only whether it looks real.

Generator and discriminator each read the source through their own encoder (built alike; the
generator's is a copy of the source encoder), as the projection discriminator gives generator and
discriminator their own class embeddings: D's learns the features that tell matching pairs from
others, G's the features that its images need, and neither can move the other's condition.

Losses (non-saturating, Goodfellow et al. 2014), averaged over the rows with both modalities::

    L_D = softplus(-D(x, h)) + softplus(D(G(z, s), h)) + mismatch_weight * softplus(D(x, roll(h)))
    L_G = softplus(-D(G(z, s), h)) + recon_weight * mean((G(z, s) - x)^2)

``recon_weight`` (default 0: the plain cGAN) adds a pix2pix-style reconstruction term (Isola et al. 2017)
that steadies training and ties samples to their source, but pulls them towards the mean of the targets
that share a source (blurrier samples). On a few thousand pairs and a few hundred steps, the plain
cGAN collapses to one mode; ``benchmarks/avdigits_generation.py`` uses ``recon_weight=100``.
The discriminator's learning rate is ``discriminator_lr_ratio`` times the generator's (TTUR,
Heusel et al. 2017); both use Adam with ``betas`` (0.5, 0.999) as in DCGAN.

``forward`` (the validation loss) is the mean squared error between the generation at ``z = 0`` and the
paired target, logged with the adversarial losses at ``z = 0``. It favours blurry means over sharp samples,
so it does not select the epoch: training runs every epoch and keeps the last (no early stopping).
``embed`` is the generator's features of the source. Training augmentations (``--augment``) perturb the
source only.
Targets must be continuous (image, audio or vector): a discrete output would not pass D's gradient.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.data.kinds import ModalityKind
from polymodal.encoders.base import Encoder
from polymodal.losses.output import LossOutput
from polymodal.models.decoders import CONTINUOUS, ModalityDecoder
from polymodal.models.phased import PhasedModel, TrainingPhase
from polymodal.models.representation import masked_batch_mean
from polymodal.models.translation import check_translation

GAN_BETAS = (0.5, 0.999)


class ConditionalGAN(PhasedModel):
    """A conditional GAN from ``source`` to ``target`` (see the module docstring).

    Example
    -------
    >>> from polymodal.encoders import build_encoder
    >>> info = {"a": {"kind": "vector", "dim": 3}, "b": {"kind": "vector", "dim": 2}}
    >>> encoders = {n: build_encoder("vector-mlp", i, output_dim=4) for n, i in info.items()}
    >>> gan = ConditionalGAN(encoders, info, source="a", target="b", noise_dim=2)
    >>> gan.translate({"a": torch.zeros(5, 3), "b": torch.zeros(5, 2)}, {}, "a", "b").shape
    torch.Size([5, 2])
    """

    stochastic = True

    def __init__(
        self, encoders: Mapping[str, Encoder], input_info: Mapping[str, Mapping[str, Any]], source: str = "",
        target: str = "", noise_dim: int = 32, condition_dim: int = 32, hidden_dim: int = 256,
        mismatch_weight: float = 1.0, recon_weight: float = 0.0, discriminator_lr_ratio: float = 1.0,
        discriminator_steps: int = 1,
    ) -> None:
        if not source or not target:
            raise ValueError(f"the cgan objective needs a source and a target modality (objective_args "
                             f"source=..., target=...); the table's modalities: {sorted(encoders)}")
        check_translation(sorted(encoders), source, target)
        kind = ModalityKind(input_info[target]["kind"])
        if kind not in CONTINUOUS:
            raise ValueError(f"the cgan target {target!r} is {kind.value}; a GAN generates continuous modalities "
                             f"only: {', '.join(k.value for k in CONTINUOUS)}")
        if min(noise_dim, condition_dim, hidden_dim, discriminator_steps) < 1 or discriminator_lr_ratio <= 0:
            raise ValueError("noise_dim, condition_dim, hidden_dim and discriminator_steps must be >= 1 and "
                             f"discriminator_lr_ratio > 0; got {noise_dim}, {condition_dim}, {hidden_dim}, "
                             f"{discriminator_steps}, {discriminator_lr_ratio}")
        if mismatch_weight < 0 or recon_weight < 0:
            raise ValueError(f"mismatch_weight and recon_weight must be >= 0, got {mismatch_weight}, {recon_weight}")
        super().__init__({source: encoders[source], target: encoders[target]})
        self.source, self.target = source, target
        self.noise_dim, self.mismatch_weight, self.recon_weight = noise_dim, mismatch_weight, recon_weight
        self.discriminator_lr_ratio, self.discriminator_steps = discriminator_lr_ratio, discriminator_steps
        source_dim, target_dim = encoders[source].output_dim, encoders[target].output_dim
        self.embedding_dim = source_dim
        # generator
        self.generator_encoder = copy.deepcopy(encoders[source])
        self.condition = nn.Sequential(nn.Linear(source_dim, condition_dim), nn.LeakyReLU(0.2))
        self.decoder = ModalityDecoder(noise_dim + condition_dim, input_info[target], hidden_dim)
        self.output_scale = nn.Parameter(torch.tensor(2.0))  # bounded output: scale * tanh + shift, learned
        self.output_shift = nn.Parameter(torch.tensor(0.0))
        # discriminator (with the encoders)
        self.critic = nn.Linear(target_dim, 1)
        self.projection = nn.Linear(source_dim, target_dim, bias=False)

    # -- parts --------------------------------------------------------------------------------
    def source_features(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """The discriminator's features of the source ``[B, embedding_dim]``."""
        return self.encoders[self.source](inputs[self.source])

    def generate(self, inputs: Mapping[str, Tensor], z: Tensor) -> Tensor:
        """``G(z, x_source)``: the generator's own features of the source, projected, beside the noise."""
        h = self.generator_encoder(inputs[self.source])
        out = self.decoder(torch.cat([z, self.condition(h)], dim=1))
        return self.output_scale * torch.tanh(out) + self.output_shift

    def discriminate(self, x: Tensor, h: Tensor | list[Tensor]) -> list[Tensor]:
        """``D(x, h_i)`` ``[B]`` for each condition ``h_i`` (the target's features computed once)."""
        f = F.leaky_relu(self.encoders[self.target](x), 0.2)
        base = self.critic(f).squeeze(1)
        return [base + (self.projection(c) * f).sum(dim=1) for c in (h if isinstance(h, list) else [h])]

    def noise(self, n: int, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.noise_dim, generator=generator, device=like.device, dtype=like.dtype)

    def _paired(self, masks: Mapping[str, Tensor]) -> Tensor:
        return masks[self.source].bool() & masks[self.target].bool()

    # -- training -----------------------------------------------------------------------------
    def training_phases(self) -> list[TrainingPhase]:
        generator = [*self.generator_encoder.parameters(), *self.condition.parameters(),
                     *self.decoder.parameters(), self.output_scale, self.output_shift]
        discriminator = [*self.encoders.parameters(), *self.critic.parameters(), *self.projection.parameters()]
        return [
            TrainingPhase("discriminator", discriminator, self.discriminator_lr_ratio, GAN_BETAS,
                          self.discriminator_steps),
            TrainingPhase("generator", generator, 1.0, GAN_BETAS),
        ]

    def phase_loss(self, phase: str, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        self.check_batch(inputs, masks)
        # training augmentations perturb the source only: the real target is what samples are compared with
        inputs = {**inputs, **self.augment({self.source: inputs[self.source]})}
        if phase == "discriminator":
            return self.discriminator_loss(inputs, masks)
        if phase == "generator":
            return self.generator_loss(inputs, masks)
        raise ValueError(f"unknown training phase {phase!r}; the cgan has 'discriminator' and 'generator'")

    def discriminator_loss(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor],
                           z: Tensor | None = None) -> LossOutput:
        paired = self._paired(masks)
        real = inputs[self.target]
        h = self.source_features(inputs)
        z = self.noise(len(real), h) if z is None else z
        fake = self.generate(inputs, z).detach()
        d_real, d_mismatch = self.discriminate(real, [h, h.roll(1, dims=0)])
        (d_fake,) = self.discriminate(fake, h)
        real_loss = masked_batch_mean(F.softplus(-d_real), paired)
        fake_loss = masked_batch_mean(F.softplus(d_fake), paired)
        mismatch_loss = masked_batch_mean(F.softplus(d_mismatch), paired & paired.roll(1, dims=0))
        total = real_loss + fake_loss + self.mismatch_weight * mismatch_loss
        return LossOutput(total, {"d_real": real_loss.detach(), "d_fake": fake_loss.detach(),
                                  "d_mismatch": mismatch_loss.detach()})

    def generator_loss(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor],
                       z: Tensor | None = None) -> LossOutput:
        paired = self._paired(masks)
        real = inputs[self.target]
        h = self.source_features(inputs).detach()
        z = self.noise(len(real), h) if z is None else z
        fake = self.generate(inputs, z)
        (d_fake,) = self.discriminate(fake, h)
        adversarial = masked_batch_mean(F.softplus(-d_fake), paired)
        recon = masked_batch_mean((fake - real.to(fake.dtype)).pow(2).flatten(1).mean(dim=1), paired)
        return LossOutput(adversarial + self.recon_weight * recon, {"g_adversarial": adversarial.detach(),
                                                                    "g_recon": recon.detach()})

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        """The selection loss: squared error of ``G(0, h)`` to the paired target; adversarial terms logged."""
        self.check_batch(inputs, masks)
        real = inputs[self.target]
        z = real.new_zeros(len(real), self.noise_dim)
        d_out, g_out = self.discriminator_loss(inputs, masks, z), self.generator_loss(inputs, masks, z)
        fake = self.generate(inputs, z)
        recon = masked_batch_mean((fake - real.to(fake.dtype)).pow(2).flatten(1).mean(dim=1), self._paired(masks))
        return LossOutput(recon, {**d_out.components, **g_out.components, "d_total": d_out.total.detach()})

    # -- use ----------------------------------------------------------------------------------
    def embed(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        """The generator's features of the source ``[B, embedding_dim]`` (zeros where the source is missing)."""
        self.check_batch(inputs, masks)
        h = self.generator_encoder(inputs[self.source])
        return h * masks[self.source].to(h.dtype).unsqueeze(1)

    @torch.no_grad()
    def translate(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor], source: str, target: str,
                  generator: torch.Generator | None = None) -> Tensor:
        """``target`` generated from ``source`` with fresh noise drawn from ``generator``."""
        if (source, target) != (self.source, self.target):
            check_translation(self.modalities, source, target)
            raise ValueError(f"this cgan translates {self.source!r} to {self.target!r}, not {source!r} to {target!r}")
        return self.generate(inputs, self.noise(len(inputs[self.source]), next(self.decoder.parameters()), generator))
