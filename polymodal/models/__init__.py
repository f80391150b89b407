"""Supervised multimodal models: encoders, a fusion and heads, with hard or soft multi-task sharing."""

from polymodal.models.builder import build_model
from polymodal.models.ensemble import EnsembleModel
from polymodal.models.multitower import MultiTowerModel
from polymodal.models.supervised import FusionModel

SupervisedModel = FusionModel | MultiTowerModel
"""Either kind of model the engine trains as one (and the predictor runs)."""
PredictiveModel = FusionModel | MultiTowerModel | EnsembleModel
"""What the predictor runs: a model trained as one, or an ensemble of them."""

__all__ = ["EnsembleModel", "FusionModel", "MultiTowerModel", "PredictiveModel", "SupervisedModel", "build_model"]
