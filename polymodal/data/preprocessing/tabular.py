"""Tabular: numeric columns (impute, select, transform) then categorical codes, as one float matrix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import ndtri
from sklearn.feature_selection import f_classif, f_regression, mutual_info_classif, mutual_info_regression

from polymodal.data.cells import is_missing
from polymodal.data.kinds import ModalityKind
from polymodal.data.preprocessing.base import Preprocessor, require_arrays

NUMERIC_TRANSFORMS = ("standard", "quantile", "log1p", "none")
FEATURE_SELECTIONS = ("none", "variance", "k_best")
SELECTION_SCORES = ("f_test", "mutual_info")
TASKS = ("auto", "classification", "regression")
QUANTILE_BOUND = 1e-7  # as scikit-learn's QuantileTransformer: keeps the normal scores finite


def _choice(name: str, value: str, valid: Sequence[str]) -> str:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid values: {', '.join(valid)}")
    return value


class TabularPreprocessor(Preprocessor):
    """Numeric and categorical columns to float ``[N, F + K]``.

    The first ``F`` columns are the selected numeric columns, imputed with the training median and
    transformed; the last ``K`` are category codes (as floats; the encoder casts them back) with
    ``0`` = unknown or missing and ``1..n`` the categories seen in training.

    Parameters
    ----------
    numeric, categorical:
        The numeric and the categorical columns.
    numeric_transform:
        ``"standard"`` (z-score), ``"quantile"`` (to a standard normal through the training
        quantiles), ``"log1p"`` (``sign(x) log1p(|x|)`` then z-score) or ``"none"``.
    feature_selection:
        ``"none"``, ``"variance"`` (drop numeric columns whose training variance is at most
        ``variance_threshold``) or ``"k_best"`` (keep the ``k`` numeric columns that score best
        against the target, which ``fit`` then requires).
    selection_score:
        ``"f_test"`` (ANOVA F / regression F statistic) or ``"mutual_info"``, for ``k_best``.
    task:
        How ``k_best`` reads the target: ``"auto"`` treats float targets as regression and any other
        (int, bool, str) as classification.
    min_frequency:
        A category gets its own code when it occurs at least this often in training; rarer ones share
        the unknown code 0.
    n_quantiles:
        Maximum number of quantiles fitted per column for ``"quantile"``.

    Example
    -------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    >>> pre = TabularPreprocessor(numeric=["x"], categorical=["c"]).fit(train)
    >>> pre.input_info()["cardinalities"]
    [3]
    >>> pre.transform(pd.DataFrame({"x": [2.0], "c": ["zebra"]})).tolist()
    [[0.0, 0.0]]
    """

    kind = ModalityKind.TABULAR

    def __init__(
        self,
        numeric: Sequence[str] = (),
        categorical: Sequence[str] = (),
        numeric_transform: str = "standard",
        feature_selection: str = "none",
        variance_threshold: float = 0.0,
        k: int = 10,
        selection_score: str = "f_test",
        task: str = "auto",
        min_frequency: int = 1,
        n_quantiles: int = 1000,
    ) -> None:
        numeric, categorical = [str(c) for c in numeric], [str(c) for c in categorical]
        if not numeric and not categorical:
            raise ValueError("a tabular preprocessor needs at least one numeric or categorical column")
        overlap = sorted(set(numeric) & set(categorical))
        if overlap:
            raise ValueError(f"column(s) {overlap} are listed as both numeric and categorical")
        super().__init__(numeric + categorical)
        self.numeric, self.categorical = numeric, categorical
        self.numeric_transform = _choice("numeric_transform", numeric_transform, NUMERIC_TRANSFORMS)
        self.feature_selection = _choice("feature_selection", feature_selection, FEATURE_SELECTIONS)
        self.selection_score = _choice("selection_score", selection_score, SELECTION_SCORES)
        self.task = _choice("task", task, TASKS)
        if int(k) < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if int(min_frequency) < 1:
            raise ValueError(f"min_frequency must be at least 1, got {min_frequency}")
        if int(n_quantiles) < 2:
            raise ValueError(f"n_quantiles must be at least 2, got {n_quantiles}")
        self.variance_threshold = float(variance_threshold)
        self.k = int(k)
        self.min_frequency = int(min_frequency)
        self.n_quantiles = int(n_quantiles)

    def options(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "numeric_transform": self.numeric_transform,
            "feature_selection": self.feature_selection,
            "variance_threshold": self.variance_threshold,
            "k": self.k,
            "selection_score": self.selection_score,
            "task": self.task,
            "min_frequency": self.min_frequency,
            "n_quantiles": self.n_quantiles,
        }

    def present(self, frame: pd.DataFrame) -> np.ndarray:
        self._check_columns(frame)
        found = np.zeros(len(frame), dtype=bool)
        for column in self.columns:
            found |= np.fromiter((not is_missing(v) for v in frame[column]), dtype=bool, count=len(frame))
        return found

    # ---------------------------------------------------------------- fit
    def _fit(self, frame: pd.DataFrame, target: np.ndarray | None) -> None:
        values = self._numeric_matrix(frame, self.numeric)
        medians = np.zeros(len(self.numeric))
        for j in range(len(self.numeric)):
            column = values[:, j][~np.isnan(values[:, j])]
            medians[j] = float(np.median(column)) if column.size else 0.0  # all missing in train: 0
        imputed = np.where(np.isnan(values), medians, values)
        keep = self._select(imputed, target)
        self.selected_: list[str] = [self.numeric[j] for j in keep]
        self.medians_ = medians[keep]
        self._fit_numeric_transform(imputed[:, keep])
        self.vocabularies_: dict[str, list[str]] = {c: self._fit_vocabulary(frame[c]) for c in self.categorical}
        self._build_index()
        if not self.selected_ and not self.categorical:
            raise ValueError(
                f"feature_selection={self.feature_selection!r} removed every numeric column "
                f"{self.numeric} and there is no categorical column; lower variance_threshold or "
                "use feature_selection='none'"
            )

    def _select(self, imputed: np.ndarray, target: np.ndarray | None) -> list[int]:
        n_columns = imputed.shape[1]
        if self.feature_selection == "none" or n_columns == 0:
            return list(range(n_columns))
        if self.feature_selection == "variance":
            variances = imputed.var(axis=0)
            return [j for j in range(n_columns) if variances[j] > self.variance_threshold]
        scores = self._scores(imputed, target)
        best = np.argsort(-scores, kind="stable")[: self.k]
        return sorted(int(j) for j in best)

    def _scores(self, imputed: np.ndarray, target: np.ndarray | None) -> np.ndarray:
        """Relevance of each numeric column to the target (mean over target columns if 2-D)."""
        if target is None:
            raise ValueError(
                "feature_selection='k_best' needs the training target; pass target= to fit() "
                "or use feature_selection='none' or 'variance'"
            )
        target = np.asarray(target)
        if target.shape[0] != imputed.shape[0]:
            raise ValueError(
                f"target has {target.shape[0]} rows but the frame has {imputed.shape[0]}; "
                "they must be the same training rows"
            )
        targets = target.reshape(len(target), -1)
        scores = np.zeros(imputed.shape[1])
        for t in range(targets.shape[1]):
            y = targets[:, t]
            known = ~pd.isna(y)
            scores += np.nan_to_num(self._score_one(imputed[known], y[known]), nan=0.0)
        return scores / targets.shape[1]

    def _score_one(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        classification = self.task == "classification" or (self.task == "auto" and y.dtype.kind not in "fc")
        if classification:
            y = np.unique(y.astype(str), return_inverse=True)[1]
            if self.selection_score == "f_test":
                return np.asarray(f_classif(x, y)[0], dtype=np.float64)
            return np.asarray(mutual_info_classif(x, y, random_state=0), dtype=np.float64)
        y = y.astype(np.float64)
        if self.selection_score == "f_test":
            return np.asarray(f_regression(x, y)[0], dtype=np.float64)
        return np.asarray(mutual_info_regression(x, y, random_state=0), dtype=np.float64)

    def _fit_numeric_transform(self, imputed: np.ndarray) -> None:
        n_columns = imputed.shape[1]
        self.quantiles_ = np.zeros((0, n_columns))
        self.references_ = np.zeros(0)
        if self.numeric_transform == "quantile" and n_columns:
            n_q = max(2, min(self.n_quantiles, imputed.shape[0]))
            self.references_ = np.linspace(0.0, 1.0, n_q)
            # monotone even with rounding, as scikit-learn enforces
            quantiles = np.percentile(imputed, self.references_ * 100.0, axis=0)
            self.quantiles_ = np.maximum.accumulate(quantiles, axis=0)
        self.mean_, self.std_ = np.zeros(n_columns), np.ones(n_columns)
        if self.numeric_transform in ("standard", "log1p"):
            values = _signed_log1p(imputed) if self.numeric_transform == "log1p" else imputed
            self.mean_ = values.mean(axis=0) if len(values) else np.zeros(n_columns)
            std = values.std(axis=0) if len(values) else np.ones(n_columns)
            self.std_ = np.where(std > 1e-8, std, 1.0)

    def _fit_vocabulary(self, column: pd.Series) -> list[str]:
        counts = Counter(str(v) for v in column if not is_missing(v))
        return sorted(value for value, n in counts.items() if n >= self.min_frequency)

    def _build_index(self) -> None:
        self._index = {c: {v: i + 1 for i, v in enumerate(vocab)} for c, vocab in self.vocabularies_.items()}

    # ---------------------------------------------------------------- transform
    def _transform(self, frame: pd.DataFrame) -> torch.Tensor:
        values = self._numeric_matrix(frame, self.selected_)
        values = np.where(np.isnan(values), self.medians_, values)
        numeric = self._apply_numeric_transform(values)
        codes = np.zeros((len(frame), len(self.categorical)))
        for j, column in enumerate(self.categorical):
            index = self._index[column]
            codes[:, j] = [0 if is_missing(v) else index.get(str(v), 0) for v in frame[column]]
        out = np.concatenate([numeric, codes], axis=1).astype(np.float32)
        out[~self.present(frame)] = 0.0
        return torch.from_numpy(out)

    def _apply_numeric_transform(self, values: np.ndarray) -> np.ndarray:
        if self.numeric_transform == "none":
            return values
        if self.numeric_transform == "quantile":
            return self._to_normal(values)
        if self.numeric_transform == "log1p":
            values = _signed_log1p(values)
        return (values - self.mean_) / self.std_

    def _to_normal(self, values: np.ndarray) -> np.ndarray:
        """Map through the fitted quantiles to [0, 1] (averaging the two one-sided interpolations so
        tied quantiles map to their middle, as scikit-learn does), then to a standard normal."""
        out = np.empty_like(values)
        ref = self.references_
        for j in range(values.shape[1]):
            q = self.quantiles_[:, j]
            up = np.interp(values[:, j], q, ref)
            down = -np.interp(-values[:, j], -q[::-1], -ref[::-1])
            u = np.clip(0.5 * (up + down), QUANTILE_BOUND, 1.0 - QUANTILE_BOUND)
            out[:, j] = ndtri(u)
        return out

    def _numeric_matrix(self, frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
        """``[N, len(columns)]`` float64 with NaN for missing (and infinite) values."""
        out = np.empty((len(frame), len(columns)))
        for j, column in enumerate(columns):
            try:
                out[:, j] = pd.to_numeric(frame[column], errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as err:
                raise ValueError(f"numeric column {column!r} holds a non-numeric value: {err}") from None
        out[~np.isfinite(out)] = np.nan
        return out

    # ---------------------------------------------------------------- info and state
    def _input_info(self) -> dict[str, Any]:
        cardinalities = [len(self.vocabularies_[c]) + 1 for c in self.categorical]
        return {"n_numeric": len(self.selected_), "cardinalities": cardinalities}

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        fitted = {"selected": list(self.selected_), "vocabularies": {c: list(v) for c, v in self.vocabularies_.items()}}
        arrays = {
            "medians": self.medians_,
            "mean": self.mean_,
            "std": self.std_,
            "quantiles": self.quantiles_,
            "references": self.references_,
        }
        return fitted, arrays

    def _load_fitted_state(self, fitted: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        require_arrays(arrays, ["medians", "mean", "std", "quantiles", "references"], "tabular preprocessing")
        self.selected_ = [str(c) for c in fitted["selected"]]
        self.vocabularies_ = {str(c): [str(v) for v in vocab] for c, vocab in fitted["vocabularies"].items()}
        self.medians_ = np.asarray(arrays["medians"], dtype=np.float64)
        self.mean_ = np.asarray(arrays["mean"], dtype=np.float64)
        self.std_ = np.asarray(arrays["std"], dtype=np.float64)
        self.quantiles_ = np.asarray(arrays["quantiles"], dtype=np.float64)
        self.references_ = np.asarray(arrays["references"], dtype=np.float64)
        self._build_index()


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))
