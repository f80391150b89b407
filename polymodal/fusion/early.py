"""Early fusion: raw inputs concatenated before one shared encoder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from polymodal.fusion.concat import ConcatFusion


class EarlyFusion(ConcatFusion):
    """Concatenate the raw (flattened) inputs of all modalities and encode them with one shared MLP.

    The model builder gives this fusion raw inputs (``raw_inputs = True``): flattened pixels and
    spectrograms, numeric values, bags of words for text, so that the only learned encoder is the
    shared one here. Missing modalities are filled with a learned embedding and flagged.
    """

    raw_inputs = True

    def __init__(
        self, input_dims: Mapping[str, int], hidden_dims: Sequence[int] = (256, 128), dropout: float = 0.1
    ) -> None:
        super().__init__(input_dims)
        layers: list[nn.Module] = [nn.LayerNorm(self.output_dim)]
        width = self.output_dim
        for hidden in hidden_dims:
            layers += [nn.Linear(width, int(hidden)), nn.GELU(), nn.Dropout(dropout)]
            width = int(hidden)
        self.shared = nn.Sequential(*layers)
        self.output_dim = width

    def forward(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        return self.shared(super().forward(features, masks))
