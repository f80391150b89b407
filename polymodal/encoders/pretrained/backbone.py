"""The contract of a pretrained backbone: its own input preparation, a forward to ``[B, D]``, blocks.

A backbone turns raw cells (image arrays, ``(samples, rate)`` tuples, strings) into its input batch
with :meth:`Backbone.prepare` (its resize and normalisation, its tokenizer, its sample rate) and that
batch into features with ``forward``. :meth:`Backbone.blocks` lists its trainable stages from input to
output, for fine-tuning the last N. :meth:`Backbone.identity` names the weights (a digest of their
files) and the preparation options: the embedding cache keys every entry with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from polymodal.data.kinds import ModalityKind
from polymodal.errors import BundleError


@contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """``module`` in eval mode inside the block; afterwards every submodule is back in its own mode."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


class Backbone(nn.Module):
    """Base class of the pretrained backbones (see the module docstring)."""

    name: str  # set on the class; an hf: backbone's kind is set per instance (its model's)
    kind: ModalityKind
    # Preparation options and their defaults; the preprocessing takes them as keyword arguments.
    defaults: ClassVar[Mapping[str, Any]] = {}
    output_dim: int
    weights_id: str

    def __init__(self, weights: str | Path | None = None, **options: Any) -> None:
        super().__init__()
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            valid = ", ".join(self.defaults) or "none"
            raise ValueError(f"unknown option(s) {unknown} for pretrained encoder {self.name!r}; valid: {valid}")
        self.options: dict[str, Any] = {**self.defaults, **options}

    def prepare(self, cells: Sequence[Any]) -> Tensor:  # pragma: no cover - abstract
        """Raw cells to the input batch (on the CPU)."""
        raise NotImplementedError

    def input_shape(self) -> tuple[int, ...]:  # pragma: no cover - abstract
        """Shape of one prepared sample (without the batch dimension)."""
        raise NotImplementedError

    def blocks(self) -> list[nn.Module]:  # pragma: no cover - abstract
        """The trainable stages, from input to output."""
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        """What determines this backbone's outputs: name, weights digest, preparation options."""
        return {"encoder": self.name, "weights": self.weights_id, "options": dict(self.options),
                "dim": self.output_dim}

    def check_weights(self, expected: str | None, label: str) -> None:
        """Refuse weights other than those a bundle was trained with (``expected``: their digest)."""
        if expected is not None and expected != self.weights_id:
            raise BundleError(f"{label} now has other weights than the model was trained with (weights digest "
                              f"{self.weights_id[:12]}, trained with {expected[:12]}); restore the original model "
                              "files, or train a new model with these weights")

    def embed(self, cells: Sequence[Any]) -> np.ndarray:
        """Features ``[len(cells), output_dim]`` of raw cells, in eval mode, as float32 numpy.

        Runs under ``torch.inference_mode()`` (no autograd bookkeeping at all, not even the version
        counters ``no_grad`` keeps): the result is a numpy array, never part of a graph."""
        with evaluating(self), torch.inference_mode():
            return self(self.prepare(cells)).float().numpy()
