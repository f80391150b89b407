"""Low-rank multimodal fusion (LMF), Liu et al. 2018."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from polymodal.fusion.base import Fusion, MissingEmbeddings, zero_missing
from polymodal.fusion.tensor import with_constant_one


class LowRankFusion(Fusion):
    """Tensor fusion with its weight tensor factorised in rank ``rank``:

    ``out = sum_r prod_m ([z_m, 1] @ W_m[r]) + bias``, with one factor ``W_m`` of shape
    ``[rank, d_m + 1, output_dim]`` per modality. This equals :class:`~polymodal.fusion.tensor.TensorFusion`
    (without projection) whose weight is ``W[o, i_1, ..., i_M] = sum_r prod_m W_m[r, i_m, o]``, at a cost
    linear rather than exponential in the number of modalities. The factors live in an
    ``nn.ParameterDict`` (MultiBench kept them in a plain list, so they were never trained).
    A missing modality's features are replaced by a learned embedding.

    Example
    -------
    >>> import torch
    >>> f = LowRankFusion({"a": 3, "b": 2}, output_dim=4, rank=2)
    >>> on = torch.ones(5, dtype=torch.bool)
    >>> f({"a": torch.ones(5, 3), "b": torch.ones(5, 2)}, {"a": on, "b": on}).shape
    torch.Size([5, 4])
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int = 64, rank: int = 4) -> None:
        super().__init__(input_dims)
        if output_dim <= 0:
            raise ValueError(f"output_dim must be positive, got {output_dim}")
        if rank <= 0:
            raise ValueError(f"rank must be positive, got {rank}")
        self.output_dim = int(output_dim)
        self.rank = int(rank)
        # each factor's product [z, 1] @ W_m has unit scale; the rank**(-1/2M) keeps the sum over ranks so
        rank_scale = self.rank ** (-0.5 / len(self.modalities))
        self.factors = nn.ParameterDict(
            {
                m: nn.Parameter(torch.randn(self.rank, d + 1, self.output_dim) * rank_scale / (d + 1) ** 0.5)
                for m, d in self.input_dims.items()
            }
        )
        self.bias = nn.Parameter(torch.zeros(self.output_dim))
        self.missing = MissingEmbeddings(self.input_dims)

    def forward(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        self.check_inputs(features, masks)
        terms = []
        for m in self.modalities:
            z = with_constant_one(self.missing(m, zero_missing(features[m], masks[m]), masks[m]))
            terms.append(torch.einsum("bi,rio->bro", z, self.factors[m]))  # [B, rank, output_dim]
        product = terms[0]
        for term in terms[1:]:
            product = product * term
        return product.sum(dim=1) + self.bias
