"""Deep CCA (Andrew et al. 2013): two encoders trained to maximise the canonical correlations of their outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.losses.dcca import DCCALoss
from polymodal.losses.output import LossOutput
from polymodal.models.representation import RepresentationModel, masked_mean


class DCCAModel(RepresentationModel):
    """Exactly two modalities; each is encoded and projected (Linear-ReLU-Linear) to ``latent_dim``,
    then standardised by a batch norm without learned scale (which leaves correlations unchanged and
    puts both views on one scale).

    The loss is :func:`polymodal.losses.dcca_loss` on the samples where both views are present; a
    batch must hold more such samples than ``latent_dim``. ``embed`` is the mean of the present views'
    outputs.
    """

    def __init__(
        self, encoders: Mapping[str, Encoder], input_info: Mapping[str, Mapping[str, Any]] | None = None,
        latent_dim: int = 16, hidden_dim: int = 128, reg: float = 1e-3, n_components: int | None = None,
    ) -> None:
        super().__init__(encoders)
        if len(self.modalities) != 2:
            raise ValueError(f"deep CCA needs exactly two modalities; the table has {len(self.modalities)}: "
                             f"{self.modalities} (choose two with --modality COL=ignore)")
        self.embedding_dim = latent_dim
        self.heads = nn.ModuleDict({
            n: nn.Sequential(nn.Linear(e.output_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, latent_dim),
                             nn.BatchNorm1d(latent_dim, affine=False))
            for n, e in encoders.items()
        })
        self.correlation = DCCALoss(reg, n_components)

    def views(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Each view's output ``[B, latent_dim]``."""
        return {n: self.heads[n](f) for n, f in self.encode(inputs, masks).items()}

    def correlation_loss(self, views: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        x, y = self.modalities
        both = masks[x].bool() & masks[y].bool()
        return self.correlation(views[x][both], views[y][both])

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        return self.correlation_loss(self.views(inputs, masks), masks)

    def embed(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        return masked_mean(self.views(inputs, masks), masks)
