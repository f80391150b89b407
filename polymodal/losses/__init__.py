"""Losses: pure functions plus thin modules returning :class:`LossOutput`."""

from polymodal.losses.output import LossOutput
from polymodal.losses.supervised import MultiTaskLoss, task_loss, uncertainty_weighted

__all__ = ["LossOutput", "MultiTaskLoss", "task_loss", "uncertainty_weighted"]
