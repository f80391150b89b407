"""The encoder modules of pretrained backbones: fine-tuned (the backbone inside) or frozen (precomputed).

With ``train="frozen"`` the preprocessing already ran the backbone (through the embedding cache),
so the encoder only passes the embeddings on: :class:`PrecomputedEmbedding`. Otherwise the
preprocessing prepares the backbone's input and :class:`FineTunedEncoder` runs the backbone, with
the blocks it does not train frozen and kept in eval mode (their batch-norm statistics and dropout
fixed).
"""

from __future__ import annotations

from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.encoders.pretrained.backbone import Backbone
from polymodal.encoders.pretrained.training import TrainMode


class PrecomputedEmbedding(Encoder):
    """Embeddings ``[B, dim]`` computed by a frozen backbone in preprocessing, passed on unchanged."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"embedding dim must be positive, got {dim}")
        self.output_dim = int(dim)

    def forward(self, x: Tensor) -> Tensor:
        return x.float()


class FineTunedEncoder(Encoder):
    """A backbone trained as ``mode`` says (``last:N`` or ``full``)."""

    def __init__(self, backbone: Backbone, mode: TrainMode) -> None:
        super().__init__()
        if mode.frozen:
            raise ValueError("a frozen backbone runs in preprocessing; use PrecomputedEmbedding")
        self.backbone = backbone
        self.mode = mode
        self.output_dim = backbone.output_dim
        self._frozen_blocks: list[nn.Module] = mode.apply(backbone.blocks())

    def train(self, mode: bool = True) -> FineTunedEncoder:
        super().train(mode)
        for block in self._frozen_blocks:
            block.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)
