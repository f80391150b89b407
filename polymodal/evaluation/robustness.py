"""Robustness sweeps of a trained model: metric-vs-corruption-level curves, missing-modality scores,
and the scores computed from curves (relative and effective robustness).

Every number is computed from runs of the same sweep: nothing is normalised by a constant.

Example
-------
>>> curve = robustness_curve(predictor, "test.csv", "image_noise", modality="image")   # doctest: +SKIP
>>> scores = robustness_scores(curve)                                                   # doctest: +SKIP
>>> missing_modality_scores(predictor, "test.csv")                                      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from numpy.typing import ArrayLike

from polymodal.data.validation import LoadedTable
from polymodal.evaluation.corruptions import Corruption, corrupt, resolve_corruption
from polymodal.evaluation.metrics import higher_is_better

if TYPE_CHECKING:
    from polymodal.predictor import Predictor, TableLike

DEFAULT_LEVELS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
ALL_MODALITIES = "all"
JOIN = "+"  # separates modality names in the ``modality``, ``present`` and ``missing`` columns


def _loaded(predictor: Predictor, table: TableLike | LoadedTable, on_error: str | None) -> LoadedTable:
    return table if isinstance(table, LoadedTable) else predictor.load_cells(table, on_error=on_error)


def robustness_curve(
    predictor: Predictor,
    table: TableLike | LoadedTable,
    corruption: str | Corruption,
    modality: str | Sequence[str] | None = None,
    levels: Sequence[float] = DEFAULT_LEVELS,
    seed: int = 0,
    *,
    fraction: float = 1.0,
    on_error: str | None = None,
) -> pd.DataFrame:
    """Every metric of ``predictor`` on ``table`` corrupted at each level.

    ``modality=None`` corrupts every modality the corruption applies to, together. ``table`` may be a
    :class:`LoadedTable` (from :meth:`Predictor.load_cells`) to load the cells once for several sweeps.
    Returns one row per level and target: ``corruption, modality, level, target`` and one column per
    metric (``modality`` is ``"all"`` for None, names joined by ``+`` for several).
    """
    if len(levels) == 0:
        raise ValueError("levels is empty: give at least one corruption level, e.g. (0, 0.5, 1)")
    method = resolve_corruption(corruption)
    loaded = _loaded(predictor, table, on_error)
    label = ALL_MODALITIES if modality is None else modality if isinstance(modality, str) else JOIN.join(modality)
    rows = []
    for level in levels:
        corrupted = corrupt(loaded, predictor.pipeline.schema, method, level, modality=modality, seed=seed,
                            fraction=fraction)
        for target, metrics in predictor.evaluate_loaded(corrupted).items():
            rows.append({"corruption": method.name, "modality": label, "level": float(level), "target": target,
                         **metrics})
    return pd.DataFrame(rows)


def missing_modality_scores(
    predictor: Predictor, table: TableLike | LoadedTable, *, on_error: str | None = None
) -> pd.DataFrame:
    """Every metric with only a subset of the modalities present, for every non-empty subset.

    Absent modalities are masked out for every row (the inputs stay; the model sees them missing).
    Rows go from all modalities present (the same as :meth:`Predictor.evaluate`), to each one missing,
    down to each one alone: columns ``present``, ``missing`` (names joined by ``+``, ``""`` for none),
    ``n_present``, ``target`` and one column per metric.
    """
    data = predictor.pipeline.transform(_loaded(predictor, table, on_error), with_targets=True)
    names = [spec.name for spec in predictor.pipeline.schema.modalities]
    rows = []
    for size in range(len(names), 0, -1):
        for present in combinations(names, size):
            absent = [n for n in names if n not in present]
            masked = data.with_masks({n: torch.zeros_like(data.masks[n]) for n in absent})
            for target, metrics in predictor.evaluate_encoded(masked).items():
                rows.append({"present": JOIN.join(present), "missing": JOIN.join(absent), "n_present": size,
                             "target": target, **metrics})
    return pd.DataFrame(rows)


# -- scores from curves ---------------------------------------------------------------------------
def relative_robustness(levels: ArrayLike, values: ArrayLike, *, higher_is_better: bool = True) -> float:
    """The normalised area under a metric-vs-level curve; 1 = unaffected, larger = more robust.

    With ``m(l)`` the metric at level ``l``, ``m_0 = m(0)`` the clean metric and ``L`` the largest level,
    the degradation relative to the clean metric is ``d(l) = (m_0 - m(l)) / m_0`` for a metric where
    higher is better (accuracy) and ``d(l) = (m(l) - m_0) / m_0`` for an error where lower is better
    (MAE, RMSE), so that a worse model always has a larger ``d``. Then

        relative robustness = 1 - (1 / L) * integral_0^L d(l) dl      (trapezoid rule over ``levels``)

    which is ``AUC(m) / (m_0 L)`` for higher-is-better metrics and ``2 - AUC(m) / (m_0 L)`` for errors:
    0 means accuracy fell to 0 (or the error doubled) on average over the levels.

    >>> relative_robustness([0, 0.5, 1], [0.8, 0.6, 0.2])
    0.6875
    >>> relative_robustness([0, 0.5, 1], [1.0, 1.5, 3.0], higher_is_better=False)
    0.25
    """
    x = np.asarray(levels, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"need as many values as levels, two or more; got {len(x)} levels, {len(y)} values")
    order = np.argsort(x)
    x, y = x[order], y[order]
    if x[0] != 0 or np.any(np.diff(x) <= 0):
        raise ValueError(f"levels must be distinct and include 0 (the clean data); got {x.tolist()}")
    if not np.all(np.isfinite(y)) or y[0] <= 0:
        raise ValueError(f"the clean metric must be positive and every value finite; got {y.tolist()}")
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2) / (y[0] * x[-1]))
    return area if higher_is_better else 2.0 - area


def robustness_scores(curve: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Relative robustness of every metric of every curve in ``curve`` (one or more concatenated
    :func:`robustness_curve` frames, with any extra id columns such as ``fusion``, ``dataset``, ``seed``).

    ``metrics`` defaults to the float columns other than ``level``; every other column identifies a
    curve. Returns the id columns, ``metric``, ``clean`` (the value at level 0) and
    ``relative_robustness`` (NaN where it is undefined: a non-positive clean metric or a NaN value).
    """
    if "level" not in curve.columns:
        raise ValueError(f"the curve has no 'level' column; it has {', '.join(map(str, curve.columns))}")
    names = list(metrics) if metrics is not None else [
        c for c in curve.columns if c != "level" and pd.api.types.is_float_dtype(curve[c])]
    ids = [c for c in curve.columns if c != "level" and c not in names]
    rows = []
    for where, group in _groups(curve, ids):
        clean = group.loc[group["level"] == 0, names]
        for name in names:
            values = group[name].to_numpy(dtype=np.float64)
            clean_value = float(clean[name].iloc[0]) if len(clean) == 1 else float("nan")
            score = float("nan")
            if clean_value > 0 and np.all(np.isfinite(values)):
                score = relative_robustness(group["level"].to_numpy(), values, higher_is_better=higher_is_better(name))
            rows.append({**where, "metric": name, "clean": clean_value, "relative_robustness": score})
    return pd.DataFrame(rows)


def _groups(frame: pd.DataFrame, keys: list[str]) -> Iterator[tuple[dict[str, object], pd.DataFrame]]:
    """``({key: value}, rows)`` for every combination of the ``keys`` columns (the whole frame if none)."""
    if not keys:
        yield {}, frame
        return
    for key, group in frame.groupby(keys, sort=False, dropna=False):
        yield dict(zip(keys, key if isinstance(key, tuple) else (key,))), group


def effective_robustness(
    scores: pd.DataFrame,
    baseline: str,
    *,
    method: str = "fusion",
    fit: str = "paired",
    keys: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Robustness beyond that of a baseline method (late fusion) at matched clean performance.

    ``scores`` are :func:`robustness_scores` rows of several runs, told apart by the column ``method``
    (e.g. ``fusion``); ``baseline`` is the value of that column for the baseline runs. Runs are
    matched on ``keys`` (by default every id column except ``method``; ``fit="linear"`` also leaves
    ``seed`` out). Within each match group:

    - ``fit="paired"``: the baseline robustness is that of the one baseline run of the group (the late
      fusion run of the same dataset, seed, corruption, target and metric);
    - ``fit="linear"``: the baseline robustness at a run's clean metric is read off the least-squares
      line of robustness against clean metric through the group's baseline runs (Taori et al. 2020);
      it needs two or more baseline runs with different clean metrics.

    Returns ``scores`` with ``baseline_robustness`` and ``effective_robustness`` (= relative robustness
    minus baseline robustness; positive = more robust than the baseline at the same clean metric).
    """
    if fit not in ("paired", "linear"):
        raise ValueError(f"fit must be 'paired' or 'linear', got {fit!r}")
    if method not in scores.columns:
        raise ValueError(f"no column {method!r} tells the methods apart; columns: {', '.join(scores.columns)}")
    if baseline not in set(scores[method]):
        raise ValueError(f"no {method} {baseline!r} run in the scores; {method}s: "
                         f"{', '.join(map(str, sorted(set(scores[method]))))}")
    fixed = {method, "clean", "relative_robustness"} | ({"seed"} if fit == "linear" else set())
    match = list(keys) if keys is not None else [c for c in scores.columns if c not in fixed]
    out = scores.copy()
    out["baseline_robustness"] = np.nan
    for where, group in _groups(out, match):
        base = group[group[method] == baseline]
        out.loc[group.index, "baseline_robustness"] = _baseline_at(base, group["clean"], fit, where)
    out["effective_robustness"] = out["relative_robustness"] - out["baseline_robustness"]
    return out


def _baseline_at(base: pd.DataFrame, clean: pd.Series, fit: str, where: dict[str, object]) -> np.ndarray:
    """The baseline's robustness at each clean metric of ``clean``, from the baseline rows ``base``."""
    if fit == "paired":
        if len(base) != 1:
            raise ValueError(f"{len(base)} baseline runs match {where}; the paired fit needs exactly one "
                             "(add a key such as seed, or use fit='linear')")
        return np.full(len(clean), float(base["relative_robustness"].iloc[0]))
    if base["clean"].nunique() < 2:
        raise ValueError(f"the linear fit needs baseline runs with two or more different clean metrics; "
                         f"{len(base)} match {where}")
    slope, intercept = np.polyfit(base["clean"].to_numpy(float), base["relative_robustness"].to_numpy(float), 1)
    return slope * clean.to_numpy(float) + intercept
