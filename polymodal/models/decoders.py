"""Decoders: a latent vector back to one modality's preprocessed batch tensor, with its reconstruction loss.

Each decoder is an MLP from the latent; its output fits the modality's kind (see
:mod:`polymodal.data.kinds`):

========== ============================================ ===========================================
kind       output                                       negative log-likelihood per sample
========== ============================================ ===========================================
image      ``[B, C, H, W]`` values                      squared error summed over values
audio      ``[B, 1, n_mels, n_frames]`` values          squared error summed over values
vector     ``[B, dim]`` values                          squared error summed over values
tabular    numeric values + logits per categorical col  squared error + cross-entropy per column
text       logits ``[B, L, vocab]``                     cross-entropy summed over positions
========== ============================================ ===========================================

:meth:`ModalityDecoder.reconstruct` turns an output into the input's own layout (category codes and
token ids by argmax).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polymodal.data.kinds import ModalityKind

CONTINUOUS = (ModalityKind.IMAGE, ModalityKind.AUDIO, ModalityKind.VECTOR)


class ModalityDecoder(nn.Module):
    """Latent ``[B, latent_dim]`` to a modality's output; built from the preprocessor's ``input_info()``.

    The trunk is an MLP with ``num_layers`` hidden layers of ``hidden_dim`` units (ReLU) and a linear output.

    Example
    -------
    >>> dec = ModalityDecoder(8, {"kind": "image", "channels": 1, "height": 4, "width": 4})
    >>> dec.reconstruct(dec(torch.zeros(2, 8))).shape
    torch.Size([2, 1, 4, 4])
    """

    def __init__(self, latent_dim: int, info: Mapping[str, Any], hidden_dim: int = 128, token_dim: int = 32,
                 num_layers: int = 1) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"a decoder needs at least one hidden layer; got num_layers={num_layers}")
        if "kind" not in info:
            raise ValueError(f"decoder input_info needs a 'kind'; got keys {sorted(info)}")
        self.kind = ModalityKind(info["kind"])
        self.shape = self._target_shape(info)
        self.n_numeric = int(info.get("n_numeric", 0))
        self.cardinalities = [int(c) for c in info.get("cardinalities", [])]
        self.vocab_size = int(info.get("vocab_size", 0))
        if self.kind is ModalityKind.TEXT:
            length = self.shape[0]
            width = length * token_dim
            self.token_dim = token_dim
            self.token_logits: nn.Module = nn.Linear(token_dim, self.vocab_size)
        elif self.kind is ModalityKind.TABULAR:
            width = self.n_numeric + sum(self.cardinalities)
            self.token_logits = nn.Identity()
        else:
            width = math.prod(self.shape)
            self.token_logits = nn.Identity()
        # Linear-ReLU pairs then the output layer: with one hidden layer, the layout saved bundles hold
        widths = [latent_dim] + [hidden_dim] * num_layers
        hidden = [m for a, b in itertools.pairwise(widths) for m in (nn.Linear(a, b), nn.ReLU())]
        self.trunk = nn.Sequential(*hidden, nn.Linear(hidden_dim, width))

    def _target_shape(self, info: Mapping[str, Any]) -> tuple[int, ...]:
        try:
            if self.kind is ModalityKind.IMAGE:
                return int(info["channels"]), int(info["height"]), int(info["width"])
            if self.kind is ModalityKind.AUDIO:
                return 1, int(info["n_mels"]), int(info["n_frames"])
            if self.kind is ModalityKind.VECTOR:
                return (int(info["dim"]),)
            if self.kind is ModalityKind.TEXT:
                return (int(info["max_length"]),)
            return (int(info["n_numeric"]) + len(info["cardinalities"]),)
        except KeyError as exc:
            raise ValueError(f"a {self.kind.value} decoder needs {exc.args[0]!r} in input_info; got {sorted(info)}") \
                from None

    def forward(self, z: Tensor) -> Tensor:
        """The raw output: values (continuous), values then logits (tabular) or token logits ``[B, L, V]``."""
        out = self.trunk(z)
        if self.kind is ModalityKind.TEXT:
            return self.token_logits(out.view(z.shape[0], self.shape[0], self.token_dim))
        if self.kind in CONTINUOUS:
            return out.view(z.shape[0], *self.shape)
        return out

    def nll(self, output: Tensor, target: Tensor) -> Tensor:
        """Reconstruction loss per sample ``[B]`` of ``target`` (the preprocessed batch) given ``output``."""
        if self.kind in CONTINUOUS:
            return (output - target.to(output.dtype)).pow(2).flatten(1).sum(dim=1)
        if self.kind is ModalityKind.TEXT:
            ids = target.long().clamp(0, self.vocab_size - 1)
            return F.cross_entropy(output.transpose(1, 2), ids, reduction="none").sum(dim=1)
        loss = (output[:, : self.n_numeric] - target[:, : self.n_numeric]).pow(2).sum(dim=1)
        start = self.n_numeric
        for j, card in enumerate(self.cardinalities):
            codes = target[:, self.n_numeric + j].long().clamp(0, card - 1)
            loss = loss + F.cross_entropy(output[:, start : start + card], codes, reduction="none")
            start += card
        return loss

    def reconstruct(self, output: Tensor) -> Tensor:
        """The output in the layout of the preprocessed input (codes and token ids by argmax)."""
        if self.kind in CONTINUOUS:
            return output
        if self.kind is ModalityKind.TEXT:
            return output.argmax(dim=-1)
        parts = [output[:, : self.n_numeric]]
        start = self.n_numeric
        for card in self.cardinalities:
            parts.append(output[:, start : start + card].argmax(dim=1, keepdim=True).to(output.dtype))
            start += card
        return torch.cat(parts, dim=1)


class DecoderSet(nn.Module):
    """One :class:`ModalityDecoder` per modality (sorted by name), all from the same latent size."""

    def __init__(self, latent_dim: int, input_info: Mapping[str, Mapping[str, Any]], names: Sequence[str],
                 hidden_dim: int = 128, num_layers: int = 1) -> None:
        super().__init__()
        absent = [n for n in names if n not in input_info]
        if absent:
            raise ValueError(f"no input_info for modalities {absent}; it has {sorted(input_info)}")
        self.decoders = nn.ModuleDict(
            {n: ModalityDecoder(latent_dim, input_info[n], hidden_dim, num_layers=num_layers) for n in sorted(names)}
        )

    def __getitem__(self, name: str) -> ModalityDecoder:
        return cast(ModalityDecoder, self.decoders[name])

    @property
    def names(self) -> list[str]:
        return list(self.decoders)

    def forward(self, z: Tensor, names: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Raw outputs of every decoder (or of ``names``)."""
        return {n: self[n](z) for n in (self.names if names is None else names)}

    def losses(self, outputs: Mapping[str, Tensor], inputs: Mapping[str, Tensor],
               masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Per modality in ``outputs``, the per-sample reconstruction loss ``[B]``, zero where it is missing."""
        return {n: self[n].nll(out, inputs[n]) * masks[n].to(out.dtype) for n, out in outputs.items()}

    def reconstruct(self, z: Tensor) -> dict[str, Tensor]:
        """Every modality decoded from ``z``, in the layout of its preprocessed input."""
        return {n: self[n].reconstruct(self[n](z)) for n in self.names}
