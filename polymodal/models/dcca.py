"""Deep CCA (Andrew et al. 2013): two encoders trained to maximise the canonical correlations of their outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.losses.dcca import DCCALoss
from polymodal.losses.output import LossOutput
from polymodal.models.representation import RepresentationModel, modality_mean


class DCCAModel(RepresentationModel):
    """Exactly two modalities; each is encoded and projected (Linear-ReLU-Linear) to ``latent_dim``,
    then standardised by a batch norm without learned scale (which leaves correlations unchanged and
    puts both views on one scale).

    ``head_layers`` is the number of linear layers of each projection head (ReLU between them, widths
    ``hidden_dim``): 2 (the default) is Linear-ReLU-Linear, 1 a single linear map, and 0 no head at
    all, for encoders that already end in ``latent_dim`` outputs (the paper's networks: a
    ``vector-mlp`` encoder with ``num_layers=3, hidden_dim=1024, output_dim=latent_dim`` is the
    784-1024-1024-1024-L network of Wang et al. 2015).

    The loss is :func:`polymodal.losses.dcca_loss` on the samples where both views are present; a
    batch must hold more such samples than ``latent_dim``. ``embed`` is the mean of the present views'
    outputs.
    """

    def __init__(
        self, encoders: Mapping[str, Encoder], input_info: Mapping[str, Mapping[str, Any]] | None = None,
        latent_dim: int = 16, hidden_dim: int = 128, reg: float = 1e-3, n_components: int | None = None,
        head_layers: int = 2,
    ) -> None:
        super().__init__(encoders)
        if len(self.modalities) != 2:
            raise ValueError(f"deep CCA needs exactly two modalities; the table has {len(self.modalities)}: "
                             f"{self.modalities} (choose two with --modality COL=ignore)")
        self.embedding_dim = latent_dim
        self.heads = nn.ModuleDict({n: projection_head(n, e.output_dim, hidden_dim, latent_dim, head_layers)
                                    for n, e in encoders.items()})
        self.correlation = DCCALoss(reg, n_components)

    def views(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Each view's output ``[B, latent_dim]``."""
        return {n: self.heads[n](f) for n, f in self.encode(inputs, masks).items()}

    def project(self, name: str, x: Tensor) -> Tensor:
        """View ``name``'s output ``[B, latent_dim]`` from that view alone (as at test time in Wang et al.
        2015, where only one view exists)."""
        if name not in self.heads:
            raise ValueError(f"unknown view {name!r}; the model's views are {self.modalities}")
        out: Tensor = self.heads[name](self.encoders[name](x))
        return out

    def correlation_loss(self, views: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        x, y = self.modalities
        both = masks[x].bool() & masks[y].bool()
        return self.correlation(views[x][both], views[y][both])

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        return self.correlation_loss(self.views(inputs, masks), masks)

    def embed(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        return modality_mean(self.views(inputs, masks), masks)


def projection_head(name: str, input_dim: int, hidden_dim: int, latent_dim: int, layers: int) -> nn.Sequential:
    """``layers`` linear layers (ReLU between) from ``input_dim`` to ``latent_dim``, then a batch norm
    without learned scale; with ``layers=0`` the encoder's output (of size ``latent_dim``) is only normalised."""
    if layers < 0:
        raise ValueError(f"head_layers must be >= 0, got {layers}")
    if layers == 0 and input_dim != latent_dim:
        raise ValueError(f"head_layers=0 uses the {name!r} encoder's output as the latent, but it has {input_dim} "
                         f"features, not latent_dim={latent_dim}: set the encoder's output_dim to {latent_dim} "
                         "or use head_layers >= 1")
    widths = [input_dim] + [hidden_dim] * max(layers - 1, 0) + [latent_dim]
    modules: list[nn.Module] = []
    for i in range(layers):
        modules += [nn.Linear(widths[i], widths[i + 1]), *([nn.ReLU()] if i < layers - 1 else [])]
    return nn.Sequential(*modules, nn.BatchNorm1d(latent_dim, affine=False))
