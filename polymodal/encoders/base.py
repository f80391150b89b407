"""The encoder contract: one modality's batch tensor to features ``[B, output_dim]``."""

from __future__ import annotations

from torch import Tensor, nn


class Encoder(nn.Module):
    """Base class of every encoder.

    Subclasses set ``output_dim`` in ``__init__`` and implement ``forward(x) -> [B, output_dim]``.
    Encoders are sized from the data (the keyword arguments of their factory come from the fitted
    preprocessing, see :meth:`polymodal.data.preprocessing.Preprocessor.input_info`) and every size
    can be overridden.
    """

    output_dim: int

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
