"""Tensor fusion network (TFN), Zadeh et al. 2017."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from polymodal.fusion.base import Fusion, MissingEmbeddings, zero_missing

# the outer product has prod(d_m + 1) entries; past this the output layer alone is too big to train
MAX_PRODUCT_SIZE = 2**17


def with_constant_one(z: Tensor) -> Tensor:
    """``[z, 1]``: the appended 1 keeps every lower-order (unimodal, bimodal, ...) term in the product."""
    return torch.cat([z, torch.ones_like(z[:, :1])], dim=1)


def outer_product(vectors: list[Tensor]) -> Tensor:
    """Flattened outer product ``[B, prod(d_i)]`` of ``[B, d_i]`` vectors, the first varying slowest."""
    product = vectors[0]
    for v in vectors[1:]:
        product = (product.unsqueeze(2) * v.unsqueeze(1)).reshape(product.shape[0], -1)
    return product


class TensorFusion(Fusion):
    """``Linear(flatten([z_1, 1] x [z_2, 1] x ... x [z_M, 1]))`` over the modalities sorted by name.

    Each modality is first projected linearly to ``proj_dim`` (``proj_dim=None``: used as is) to keep
    the product (``prod(d_m + 1)`` entries) small. A missing modality's projected vector is replaced by
    a learned embedding, so its values never reach the output.

    Example
    -------
    >>> import torch
    >>> f = TensorFusion({"a": 3, "b": 2}, output_dim=4, proj_dim=2)
    >>> on = torch.ones(5, dtype=torch.bool)
    >>> f({"a": torch.ones(5, 3), "b": torch.ones(5, 2)}, {"a": on, "b": on}).shape
    torch.Size([5, 4])
    """

    def __init__(self, input_dims: Mapping[str, int], output_dim: int = 64, proj_dim: int | None = 8) -> None:
        super().__init__(input_dims)
        if output_dim <= 0:
            raise ValueError(f"output_dim must be positive, got {output_dim}")
        if proj_dim is not None and proj_dim <= 0:
            raise ValueError(f"proj_dim must be positive (or None for no projection), got {proj_dim}")
        self.output_dim = int(output_dim)
        self.proj_dim = proj_dim
        self.projections = nn.ModuleDict(
            {m: nn.Identity() if proj_dim is None else nn.Linear(d, proj_dim) for m, d in self.input_dims.items()}
        )
        dims = {m: d if proj_dim is None else int(proj_dim) for m, d in self.input_dims.items()}
        size = math.prod(d + 1 for d in dims.values())
        if size > MAX_PRODUCT_SIZE:
            raise ValueError(
                f"the tensor product of {len(dims)} modalities of sizes {list(dims.values())} has {size} entries "
                f"(limit {MAX_PRODUCT_SIZE}); use a smaller proj_dim, or the 'low_rank' fusion"
            )
        self.missing = MissingEmbeddings(dims)
        self.output = nn.Linear(size, self.output_dim)

    def product(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        """The flattened outer product ``[B, prod(d_m + 1)]`` that the output layer reads."""
        self.check_inputs(features, masks)
        vectors = [
            with_constant_one(self.missing(m, self.projections[m](zero_missing(features[m], masks[m])), masks[m]))
            for m in self.modalities
        ]
        return outer_product(vectors)

    def forward(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        return self.output(self.product(features, masks))
