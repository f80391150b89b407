"""How much of a pretrained backbone trains: ``frozen``, ``last:N`` blocks, ``full``, or ``lora`` adapters.

``lora`` (``hf:`` backbones only) takes its settings after a colon: ``lora:r=8,alpha=16`` (see
:mod:`polymodal.encoders.pretrained.lora`).

Example
-------
>>> TrainMode.parse("last:2")
TrainMode(kind='last', blocks=2, lora=None)
>>> TrainMode.parse("frozen").frozen
True
>>> str(TrainMode.parse("lora:r=4"))
'lora:r=4,alpha=16,dropout=0'
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from polymodal.encoders.pretrained.lora import LoRASettings

KINDS = ("frozen", "last", "full", "lora")


@dataclass(frozen=True)
class TrainMode:
    """``kind`` is ``frozen``, ``last`` (the last ``blocks`` blocks train), ``full`` or ``lora``."""

    kind: str
    blocks: int = 0
    lora: LoRASettings | None = None

    @classmethod
    def parse(cls, text: str) -> TrainMode:
        value = str(text).strip()
        if value.lower() in ("frozen", "full"):
            return cls(value.lower())
        head, _, rest = value.partition(":")
        if head.lower() == "last" and rest.isdigit() and int(rest) >= 1:
            return cls("last", int(rest))
        if head.lower() == "lora":
            return cls("lora", lora=LoRASettings.parse(rest))
        raise ValueError(f"train={text!r} is not a training mode; use 'frozen', 'full' or 'last:N' (N >= 1 blocks), "
                         "or for hf: backbones 'lora' / 'lora:r=8,alpha=16,dropout=0.05,targets=query+value'")

    @property
    def frozen(self) -> bool:
        return self.kind == "frozen"

    def __str__(self) -> str:
        if self.kind == "last":
            return f"last:{self.blocks}"
        return f"lora:{self.lora}" if self.lora is not None else self.kind

    def apply(self, blocks: list[nn.Module]) -> list[nn.Module]:
        """Set ``requires_grad`` block by block; returns the frozen blocks (to keep in eval mode)."""
        if self.kind == "lora":
            raise ValueError("train='lora' adds adapters instead of training blocks; use LoRAEncoder")
        if self.kind == "last" and self.blocks > len(blocks):
            raise ValueError(f"train='last:{self.blocks}' but the backbone has only {len(blocks)} blocks")
        n_train = {"frozen": 0, "full": len(blocks), "last": self.blocks}[self.kind]
        frozen = blocks[: len(blocks) - n_train]
        for i, block in enumerate(blocks):
            block.requires_grad_(i >= len(blocks) - n_train)
        return frozen
