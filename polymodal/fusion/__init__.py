"""Fusion methods, all behind the contract of :class:`polymodal.fusion.base.Fusion`.

``FUSIONS.create(name, input_dims=..., **kwargs)`` builds one; ``polymodal fusions`` lists them.
"""

from __future__ import annotations

from polymodal.fusion.base import Fusion
from polymodal.fusion.concat import ConcatFusion
from polymodal.fusion.early import EarlyFusion
from polymodal.fusion.late_mean import LateFusion, MeanLateFusion
from polymodal.registry import Registry

FUSIONS: Registry[Fusion] = Registry("fusion")
FUSIONS.register("early", "raw inputs concatenated, then one shared MLP encoder")(EarlyFusion)
FUSIONS.register("concat", "middle fusion: encoded features concatenated, learned missing embeddings")(
    ConcatFusion
)
FUSIONS.register("late", "late fusion: a head per modality, probabilities averaged over present ones")(
    MeanLateFusion
)

__all__ = ["FUSIONS", "ConcatFusion", "EarlyFusion", "Fusion", "LateFusion", "MeanLateFusion"]
