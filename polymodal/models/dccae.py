"""Deep canonically correlated autoencoders (DCCAE, Wang et al. 2015): deep CCA plus reconstruction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from polymodal.encoders.base import Encoder
from polymodal.losses.output import LossOutput
from polymodal.models.dcca import DCCAModel
from polymodal.models.decoders import DecoderSet
from polymodal.models.representation import masked_batch_mean


class DCCAEModel(DCCAModel):
    """:class:`DCCAModel` with a decoder per view reconstructing the view from its own latent.

    ``total = -sum of correlations + recon_weight * sum_v recon_v`` (reconstruction per sample, see
    :mod:`polymodal.models.decoders`, averaged over the samples where the view is present).
    Each decoder has ``decoder_layers`` hidden layers of ``hidden_dim`` units (3 of 1024 mirror the
    paper's 784-1024-1024-1024-L encoders).
    """

    def __init__(
        self, encoders: Mapping[str, Encoder], input_info: Mapping[str, Mapping[str, Any]], latent_dim: int = 16,
        hidden_dim: int = 128, reg: float = 1e-3, n_components: int | None = None, recon_weight: float = 0.01,
        head_layers: int = 2, decoder_layers: int = 1,
    ) -> None:
        super().__init__(encoders, input_info, latent_dim, hidden_dim, reg, n_components, head_layers)
        if recon_weight < 0:
            raise ValueError(f"recon_weight must be >= 0, got {recon_weight}")
        self.recon_weight = recon_weight
        self.decoders = DecoderSet(latent_dim, input_info, self.modalities, hidden_dim, decoder_layers)

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        views = self.views(inputs, masks)
        out = self.correlation_loss(views, masks)
        total = out.total
        components = dict(out.components)
        for name in self.modalities:
            decoder = self.decoders[name]
            recon = masked_batch_mean(decoder.nll(decoder(views[name]), inputs[name]), masks[name])
            components[f"recon_{name}"] = recon.detach()
            total = total + self.recon_weight * recon.to(total.dtype)
        return LossOutput(total, components)
