"""A parameter-free encoder for early fusion: each modality's input as one flat vector."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from polymodal.data.kinds import ModalityKind
from polymodal.encoders.base import Encoder
from polymodal.encoders.layers import as_long_codes, check_input

PAD_ID = 0


class RawEncoder(Encoder):
    """Flattens a modality's batch without learning anything.

    * image ``[B, C, H, W]`` and audio ``[B, 1, n_mels, n_frames]``: flattened values;
    * vector ``[B, dim]``: unchanged;
    * tabular ``[B, F + K]``: the ``F`` numeric values, then each categorical code one-hot over its
      cardinality;
    * text ``[B, L]``: a bag of words over the vocabulary, normalised to sum to one (all zeros for a
      row without tokens; the padding id never counts).

    It is built from the preprocessor's ``input_info()`` (which includes ``kind``).

    Example
    -------
    >>> import torch
    >>> enc = RawEncoder(kind="tabular", n_numeric=1, cardinalities=[3])
    >>> enc(torch.tensor([[0.5, 2.0]])).tolist()
    [[0.5, 0.0, 0.0, 1.0]]
    """

    def __init__(
        self,
        kind: ModalityKind | str,
        channels: int | None = None,
        height: int | None = None,
        width: int | None = None,
        n_mels: int | None = None,
        n_frames: int | None = None,
        vocab_size: int | None = None,
        n_numeric: int | None = None,
        cardinalities: Sequence[int] | None = None,
        dim: int | None = None,
    ) -> None:
        super().__init__()
        self.kind = ModalityKind(kind)
        given = {
            "channels": channels,
            "height": height,
            "width": width,
            "n_mels": n_mels,
            "n_frames": n_frames,
            "vocab_size": vocab_size,
            "n_numeric": n_numeric,
            "cardinalities": cardinalities,
            "dim": dim,
        }
        needed = {
            ModalityKind.IMAGE: ["channels", "height", "width"],
            ModalityKind.AUDIO: ["n_mels", "n_frames"],
            ModalityKind.TEXT: ["vocab_size"],
            ModalityKind.TABULAR: ["n_numeric", "cardinalities"],
            ModalityKind.VECTOR: ["dim"],
        }[self.kind]
        absent = [name for name in needed if given[name] is None]
        if absent:
            raise ValueError(f"a raw {self.kind.value} encoder needs {', '.join(absent)}")
        self.cardinalities = [int(c) for c in cardinalities or []]
        self.n_numeric = int(n_numeric or 0)
        self.vocab_size = int(vocab_size or 0)
        self.input_shape: list[int | None]
        if self.kind is ModalityKind.IMAGE:
            self.input_shape = [None, int(channels or 0), int(height or 0), int(width or 0)]
        elif self.kind is ModalityKind.AUDIO:
            self.input_shape = [None, 1, int(n_mels or 0), int(n_frames or 0)]
        elif self.kind is ModalityKind.TEXT:
            self.input_shape = [None, None]
        elif self.kind is ModalityKind.TABULAR:
            self.input_shape = [None, self.n_numeric + len(self.cardinalities)]
        else:
            self.input_shape = [None, int(dim or 0)]
        self.output_dim = self._output_dim()
        if self.output_dim <= 0:
            raise ValueError(f"a raw {self.kind.value} encoder would output no features; check {needed}")

    def _output_dim(self) -> int:
        if self.kind is ModalityKind.TEXT:
            return self.vocab_size
        if self.kind is ModalityKind.TABULAR:
            return self.n_numeric + sum(self.cardinalities)
        size = 1
        for s in self.input_shape[1:]:
            size *= int(s or 0)
        return size

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.input_shape, f"raw {self.kind.value} encoder")
        if self.kind is ModalityKind.TEXT:
            return self._bag_of_words(x)
        if self.kind is ModalityKind.TABULAR:
            codes = as_long_codes(x[:, self.n_numeric :])
            one_hots = [
                F.one_hot(torch.where(codes[:, j] < c, codes[:, j], 0), c).to(x.dtype)
                for j, c in enumerate(self.cardinalities)
            ]
            return torch.cat([x[:, : self.n_numeric], *one_hots], dim=1)
        return x.flatten(1)

    def _bag_of_words(self, x: Tensor) -> Tensor:
        ids = x.long().clamp(0, self.vocab_size - 1)
        counts = torch.zeros(x.shape[0], self.vocab_size, device=x.device)
        counts.scatter_add_(1, ids, (ids != PAD_ID).to(counts.dtype))
        return counts / counts.sum(dim=1, keepdim=True).clamp_min(1.0)
