"""Permutation importance of tabular columns: how much the metric falls when one column's cells are shuffled.

For each numeric or categorical column of the model's tabular modalities, the column's loaded cells are
permuted across the rows (seeded; the other columns and modalities stay as they are), the table is
preprocessed again by the fitted pipeline and scored. The importance is the clean metric minus the permuted
one (the other way round for an error metric such as RMSE), so a column the model relies on has a positive
importance and a column it ignores one near zero. ``repeats`` permutations per column give a mean and a
standard deviation (Breiman 2001; scikit-learn's ``permutation_importance``).

Example
-------
>>> importance = column_permutation_importance(predictor, predictor.load_cells("test.csv"))  # doctest: +SKIP
>>> importance[["column", "importance_mean"]]                                                 # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from polymodal.data.kinds import ModalityKind
from polymodal.data.validation import LoadedTable
from polymodal.evaluation.metrics import higher_is_better

if TYPE_CHECKING:
    from polymodal.predictor import Predictor


def tabular_columns(predictor: Predictor) -> list[tuple[str, str]]:
    """``(modality, column)`` of every column of the model's tabular modalities, in schema order."""
    return [(spec.name, column) for spec in predictor.pipeline.schema.modalities
            if spec.kind is ModalityKind.TABULAR for column in spec.columns]


def permuted(loaded: LoadedTable, modality: str, column: str, order: np.ndarray) -> LoadedTable:
    """``loaded`` with the cells of one column taken in ``order`` (the rest shared, not copied)."""
    frame = loaded.modalities[modality].copy()
    frame[column] = frame[column].to_numpy()[order]
    return LoadedTable({**loaded.modalities, modality: frame}, loaded.targets, loaded.rows, loaded.report)


def column_permutation_importance(
    predictor: Predictor,
    loaded: LoadedTable,
    target: str | None = None,
    metric: str | None = None,
    *,
    repeats: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per tabular column: ``modality, column, metric, clean, importance_mean, importance_std``
    (and ``importance_<i>`` per repeat), sorted by ``importance_mean``, largest first.

    ``loaded`` are labelled loaded cells (:meth:`Predictor.load_cells`); ``target`` defaults to the first
    target, ``metric`` to accuracy (R2 for regression). An empty frame when the model has no tabular column.
    """
    from polymodal.evaluation.contribution import default_metric

    if repeats < 1:
        raise ValueError(f"repeats must be 1 or more, got {repeats}")
    target = target or predictor.targets[0]
    if target not in predictor.pipeline.targets:
        raise ValueError(f"unknown target {target!r}; the model predicts {', '.join(predictor.targets)}")
    metric = metric or default_metric(predictor.pipeline.targets[target].task)
    clean_scores = predictor.evaluate_loaded(loaded)[target]
    if metric not in clean_scores:
        raise ValueError(f"unknown metric {metric!r} for target {target!r}; known: {', '.join(clean_scores)}")
    clean = clean_scores[metric]
    sign = 1.0 if higher_is_better(metric) else -1.0
    rng = np.random.default_rng(seed)
    rows = []
    for modality, column in tabular_columns(predictor):
        drops = []
        for _ in range(repeats):
            shuffled = permuted(loaded, modality, column, rng.permutation(len(loaded.rows)))
            drops.append(sign * (clean - predictor.evaluate_loaded(shuffled)[target][metric]))
        rows.append({"modality": modality, "column": column, "metric": metric, "clean": clean,
                     "importance_mean": float(np.mean(drops)), "importance_std": float(np.std(drops)),
                     **{f"importance_{i}": float(d) for i, d in enumerate(drops)}})
    frame = pd.DataFrame(rows, columns=["modality", "column", "metric", "clean", "importance_mean", "importance_std"]
                         if not rows else None)
    return frame.sort_values("importance_mean", ascending=False, kind="stable").reset_index(drop=True)
