"""Classic multiview learning: the CCA family, co-occurrence + SVD, low-rank fusion of matrices.

Scikit-learn estimators: :class:`CCA` (closed form, regularised), :class:`KernelCCA` (exact,
Nyström, random Fourier features), :class:`MCCA` (three or more views), :class:`PPMI`,
:class:`SVDEmbedding` and :class:`LowRankFusion`; co-occurrence builders; helpers that turn
embeddings into ``vector`` table columns; and the pure canonical-correlation math in
:mod:`polymodal.multiview.cca_math` (numpy and differentiable torch) for deep CCA.
"""

from polymodal.multiview.cca import CCA
from polymodal.multiview.cca_math import canonical_correlations
from polymodal.multiview.columns import token_vector_column, vector_column
from polymodal.multiview.cooccurrence import (
    CooccurrenceMatrix,
    build_vocabulary,
    paired_cooccurrence,
    window_cooccurrence,
)
from polymodal.multiview.kernel_cca import KernelCCA
from polymodal.multiview.lowrank_fusion import LowRankFusion
from polymodal.multiview.mcca import MCCA
from polymodal.multiview.ppmi import PPMI, ppmi
from polymodal.multiview.svd_embedding import SVDEmbedding, truncated_svd

__all__ = [
    "CCA",
    "MCCA",
    "PPMI",
    "CooccurrenceMatrix",
    "KernelCCA",
    "LowRankFusion",
    "SVDEmbedding",
    "build_vocabulary",
    "canonical_correlations",
    "paired_cooccurrence",
    "ppmi",
    "token_vector_column",
    "truncated_svd",
    "vector_column",
    "window_cooccurrence",
]
