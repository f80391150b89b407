"""Losses: pure functions plus thin modules returning :class:`LossOutput`."""

from polymodal.losses.contrastive import InfoNCELoss, LearnableTemperature, info_nce, multimodal_info_nce
from polymodal.losses.dcca import BatchTooSmallError, DCCALoss, dcca_loss
from polymodal.losses.distributed import all_reduce_sum, gather_rows, local_batch
from polymodal.losses.experts import mixture_of_experts_sample, product_of_experts
from polymodal.losses.gaussian import kl_diagonal, kl_standard_normal, reparameterize
from polymodal.losses.output import LossOutput
from polymodal.losses.supervised import MultiTaskLoss, task_loss, uncertainty_weighted

__all__ = [
    "BatchTooSmallError",
    "DCCALoss",
    "InfoNCELoss",
    "LearnableTemperature",
    "LossOutput",
    "MultiTaskLoss",
    "all_reduce_sum",
    "dcca_loss",
    "gather_rows",
    "info_nce",
    "kl_diagonal",
    "kl_standard_normal",
    "local_batch",
    "mixture_of_experts_sample",
    "multimodal_info_nce",
    "product_of_experts",
    "reparameterize",
    "task_loss",
    "uncertainty_weighted",
]
