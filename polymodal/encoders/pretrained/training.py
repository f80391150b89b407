"""How much of a pretrained backbone trains: ``frozen``, ``last:N`` blocks, or ``full``.

Example
-------
>>> TrainMode.parse("last:2")
TrainMode(kind='last', blocks=2)
>>> TrainMode.parse("frozen").frozen
True
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

KINDS = ("frozen", "last", "full")


@dataclass(frozen=True)
class TrainMode:
    """``kind`` is ``frozen``, ``last`` (the last ``blocks`` blocks train) or ``full``."""

    kind: str
    blocks: int = 0

    @classmethod
    def parse(cls, text: str) -> TrainMode:
        value = str(text).strip().lower()
        if value in ("frozen", "full"):
            return cls(value)
        head, _, count = value.partition(":")
        if head == "last" and count.isdigit() and int(count) >= 1:
            return cls("last", int(count))
        raise ValueError(f"train={text!r} is not a training mode; use 'frozen', 'full' or 'last:N' (N >= 1 blocks)")

    @property
    def frozen(self) -> bool:
        return self.kind == "frozen"

    def __str__(self) -> str:
        return f"last:{self.blocks}" if self.kind == "last" else self.kind

    def apply(self, blocks: list[nn.Module]) -> list[nn.Module]:
        """Set ``requires_grad`` block by block; returns the frozen blocks (to keep in eval mode)."""
        if self.kind == "last" and self.blocks > len(blocks):
            raise ValueError(f"train='last:{self.blocks}' but the backbone has only {len(blocks)} blocks")
        n_train = {"frozen": 0, "full": len(blocks), "last": self.blocks}[self.kind]
        frozen = blocks[: len(blocks) - n_train]
        for i, block in enumerate(blocks):
            block.requires_grad_(i >= len(blocks) - n_train)
        return frozen
