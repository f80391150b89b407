"""``polymodal explain``: every view of what a trained model relies on, on one labelled table.

- :mod:`~polymodal.evaluation.contribution`: Shapley values of the modalities (metric and per sample), each
  modality alone and each one left out;
- :mod:`~polymodal.evaluation.column_importance`: permutation importance of the tabular columns;
- :mod:`~polymodal.evaluation.attribution`: integrated gradients on image, audio and text inputs, as heat maps.

:func:`write_explanation` writes ``explain.json`` (and the heat maps under ``heatmaps/``) to a folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from polymodal.evaluation.attribution import DEFAULT_STEPS, Attributions, integrated_gradients
from polymodal.evaluation.column_importance import column_permutation_importance
from polymodal.evaluation.contribution import (
    DEFAULT_PERMUTATIONS,
    EXACT_MAX_MODALITIES,
    ModalityContribution,
    modality_contribution,
)
from polymodal.storage.atomic import atomic_write_json

if TYPE_CHECKING:
    from polymodal.data.validation import LoadedTable
    from polymodal.predictor import Predictor, TableLike

EXPLAIN_JSON = "explain.json"
HEATMAPS = "heatmaps"


@dataclass
class Explanation:
    """The results of :func:`explain`: one :class:`ModalityContribution` per explained target, the column
    importances (of the first of them; empty without tabular columns or when not asked), and the integrated
    gradients (None when not asked)."""

    rows: int
    contributions: list[ModalityContribution]
    column_importance: pd.DataFrame
    attributions: Attributions | None

    @property
    def contribution(self) -> ModalityContribution:
        """The first explained target's modality contribution."""
        return self.contributions[0]

    def to_dict(self, per_sample: bool = True) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "contributions": [c.to_dict(per_sample=per_sample) for c in self.contributions],
            "column_importance": self.column_importance.to_dict(orient="records"),
            "integrated_gradients": None if self.attributions is None else self.attributions.to_dict(),
        }


def explain(
    predictor: Predictor,
    table: TableLike | LoadedTable,
    *,
    target: str | Sequence[str] | None = None,
    metric: str | None = None,
    permutations: int = DEFAULT_PERMUTATIONS,
    exact_max: int = EXACT_MAX_MODALITIES,
    repeats: int = 5,
    samples: int = 3,
    steps: int = DEFAULT_STEPS,
    columns: bool = True,
    gradients: bool = True,
    heatmaps: str | Path | None = None,
    seed: int = 0,
    on_error: str | None = None,
) -> Explanation:
    """Explain ``predictor`` on the labelled ``table`` (a table, or cells from :meth:`Predictor.load_cells`).

    ``target``: a target or a list of them (default: the first); ``metric``: the score the modality Shapley
    values and the column importances are of (default accuracy, R2 for regression). ``permutations`` and
    ``seed``: the sampled Shapley values beyond ``exact_max`` modalities; ``repeats``: the permutations per
    column (``columns=False`` skips them); ``samples`` rows and ``steps`` integration steps per modality for
    the integrated gradients (``gradients=False`` skips them), with heat maps written to the folder
    ``heatmaps`` when given.
    """
    from polymodal.data.validation import LoadedTable

    loaded = table if isinstance(table, LoadedTable) else predictor.load_cells(table, on_error=on_error)
    data = predictor.pipeline.transform(loaded, with_targets=True)
    if len(data) == 0:
        raise ValueError("the table has no usable row to explain the model on")
    targets = [target] if isinstance(target, str) else list(target) if target else predictor.targets[:1]
    contributions = [modality_contribution(predictor, data, t, metric, permutations=permutations,
                                           exact_max=exact_max, seed=seed) for t in targets]
    first = targets[0]
    importance = (column_permutation_importance(predictor, loaded, first, contributions[0].metric, repeats=repeats,
                                                seed=seed) if columns else pd.DataFrame())
    attributions = (integrated_gradients(predictor, data, heatmaps, target=first, samples=samples, steps=steps)
                    if gradients else None)
    return Explanation(len(data), contributions, importance, attributions)


def write_explanation(explanation: Explanation, out: str | Path, per_sample: bool = True) -> Path:
    """Write ``out/explain.json`` (atomically) and return its path; heat map paths in it are relative to ``out``."""
    folder = Path(out)
    payload = explanation.to_dict(per_sample=per_sample)
    gradients = payload.get("integrated_gradients") or {}
    for item in gradients.get("items", []):
        if item["heatmap"]:
            path = Path(item["heatmap"])
            item["heatmap"] = str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path)
    path = folder / EXPLAIN_JSON
    atomic_write_json(path, payload)
    return path
