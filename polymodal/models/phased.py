"""Models trained in alternating phases, each phase with its own optimizer over its own parameters.

An adversarial model (a GAN) cannot minimise one loss: its discriminator and its generator minimise
opposite objectives. Such a model subclasses :class:`PhasedModel` and declares

* :meth:`PhasedModel.training_phases`: the phases in the order they run on every batch, each with the
  parameters its optimizer updates (disjoint, together every trainable parameter), a learning-rate
  scale, Adam betas and how many steps it takes per batch;
* :meth:`PhasedModel.phase_loss`: the loss of one phase on a batch.

:class:`polymodal.engine.pretrain_module.PretrainModule` trains such a model with Lightning's manual
optimization: for every phase, only that phase's parameters require gradients while its loss is
back-propagated, then its optimizer steps. ``forward`` still returns a validation loss, logged every
epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from torch import Tensor, nn

from polymodal.losses.output import LossOutput
from polymodal.models.representation import RepresentationModel


@dataclass(frozen=True)
class TrainingPhase:
    """One phase of an alternating training step."""

    name: str
    parameters: list[nn.Parameter] = field(repr=False)
    lr_scale: float = 1.0
    betas: tuple[float, float] = (0.9, 0.999)
    steps: int = 1


class PhasedModel(RepresentationModel):
    """A representation model trained phase by phase (see the module docstring).

    Adversarial losses do not measure quality: by default such a model trains every epoch and keeps
    the last one (``select_best_epoch = False``).
    """

    select_best_epoch = False

    def training_phases(self) -> list[TrainingPhase]:
        raise NotImplementedError  # pragma: no cover

    def phase_loss(self, phase: str, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> LossOutput:
        raise NotImplementedError  # pragma: no cover


def check_phases(model: nn.Module, phases: list[TrainingPhase]) -> None:
    """Every trainable parameter in exactly one phase, and sane phase settings; a ValueError otherwise."""
    owner: dict[int, str] = {}
    for phase in phases:
        if phase.steps < 1 or phase.lr_scale <= 0:
            raise ValueError(f"phase {phase.name!r}: steps must be >= 1 and lr_scale > 0, got {phase.steps}, "
                             f"{phase.lr_scale}")
        for p in phase.parameters:
            if id(p) in owner:
                raise ValueError(f"a parameter is in both phases {owner[id(p)]!r} and {phase.name!r}")
            owner[id(p)] = phase.name
    orphans = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in owner]
    if orphans:
        raise ValueError(f"parameters in no training phase (they would never train): {orphans}")
