"""Supervised multimodal models: encoders, a fusion and heads, with hard or soft multi-task sharing."""

from polymodal.models.builder import build_model
from polymodal.models.multitower import MultiTowerModel
from polymodal.models.supervised import FusionModel

SupervisedModel = FusionModel | MultiTowerModel
"""Either kind of model the engine trains and the predictor runs."""

__all__ = ["FusionModel", "MultiTowerModel", "SupervisedModel", "build_model"]
