"""Fusion methods, all behind the contract of :class:`polymodal.fusion.base.Fusion`.

``FUSIONS.create(name, input_dims=..., **kwargs)`` builds one; ``polymodal fusions`` lists them.
Late fusions (``produces_predictions``) also take ``num_outputs`` and ``activation``.
"""

from __future__ import annotations

from polymodal.fusion.base import Fusion
from polymodal.fusion.concat import ConcatFusion
from polymodal.fusion.cross_attention import CrossAttentionFusion
from polymodal.fusion.early import EarlyFusion
from polymodal.fusion.gated import GatedFusion
from polymodal.fusion.late_mean import LateFusion, MeanLateFusion
from polymodal.fusion.late_stacking import StackingLateFusion
from polymodal.fusion.late_vote import VoteLateFusion
from polymodal.fusion.late_weighted import WeightedLateFusion
from polymodal.fusion.low_rank import LowRankFusion
from polymodal.fusion.sum import SumFusion
from polymodal.fusion.tensor import TensorFusion
from polymodal.fusion.transformer import TransformerFusion
from polymodal.registry import Registry

FUSIONS: Registry[Fusion] = Registry("fusion")
FUSIONS.register("early", "raw inputs concatenated, then one shared MLP encoder")(EarlyFusion)
FUSIONS.register("concat", "middle fusion: encoded features concatenated, learned missing embeddings")(ConcatFusion)
FUSIONS.register("sum", "middle fusion: each modality projected to a common size, summed over present ones")(SumFusion)
FUSIONS.register("gated", "middle fusion: gated multimodal unit (Arevalo et al. 2017), gates over modalities")(
    GatedFusion
)
FUSIONS.register("tensor", "middle fusion: tensor fusion network (Zadeh et al. 2017), outer product of [z, 1]")(
    TensorFusion
)
FUSIONS.register("low_rank", "middle fusion: low-rank multimodal fusion (Liu et al. 2018), rank-r factors")(
    LowRankFusion
)
FUSIONS.register("cross_attention", "middle fusion: each modality attends to the others, pooled")(CrossAttentionFusion)
FUSIONS.register("transformer", "middle fusion: transformer over modality tokens + summary token (MulT option)")(
    TransformerFusion
)
FUSIONS.register("late", "late fusion: a head per modality, probabilities averaged over present ones")(MeanLateFusion)
FUSIONS.register("late_weighted", "late fusion: learned softmax weights over present modalities")(WeightedLateFusion)
FUSIONS.register("late_stacking", "late fusion: a meta-model over the heads' detached predictions")(StackingLateFusion)
FUSIONS.register("late_vote", "late fusion: majority vote of the heads (mean probability while training)")(
    VoteLateFusion
)

__all__ = [
    "FUSIONS",
    "ConcatFusion",
    "CrossAttentionFusion",
    "EarlyFusion",
    "Fusion",
    "GatedFusion",
    "LateFusion",
    "LowRankFusion",
    "MeanLateFusion",
    "StackingLateFusion",
    "SumFusion",
    "TensorFusion",
    "TransformerFusion",
    "VoteLateFusion",
    "WeightedLateFusion",
]


SET_FROM_DATA = ("input_dims", "num_outputs", "activation")
"""Fusion arguments the model builder sets from the data and the targets; a config never gives them."""


def settable_arguments(name: str) -> list[str]:
    """The arguments of the registered fusion ``name`` that ``fusion_args`` may set (unknown name: ValueError)."""
    return [p for p in FUSIONS.get(name).parameters() if p not in SET_FROM_DATA]
