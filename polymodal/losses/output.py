"""The typed output every loss returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class LossOutput:
    """The total loss to optimise and each named component (detached copies are logged)."""

    total: Tensor
    components: dict[str, Tensor] = field(default_factory=dict)
