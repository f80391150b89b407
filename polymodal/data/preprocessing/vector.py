"""Vectors (precomputed features): fixed dimension fitted on train, optional per-dimension standardising."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from polymodal.data.kinds import ModalityKind
from polymodal.data.preprocessing.base import SingleColumnPreprocessor, require_arrays, row_label


class VectorPreprocessor(SingleColumnPreprocessor):
    """One float vector per row to float ``[N, D]``.

    Parameters
    ----------
    column:
        The vector column (cells: 1-D arrays or lists of numbers).
    standardize:
        Subtract the training mean and divide by the training standard deviation per dimension.
    """

    kind = ModalityKind.VECTOR

    def __init__(self, column: str, standardize: bool = True) -> None:
        super().__init__(column)
        self.standardize = bool(standardize)

    def options(self) -> dict[str, Any]:
        return {"column": self.column, "standardize": self.standardize}

    def _fit(self, frame: pd.DataFrame, target: np.ndarray | None) -> None:
        positions, cells = self._present_values(frame)
        if not cells:
            raise self._no_training_values()
        first = self._as_vector(frame, positions[0], cells[0], dim=None)
        self.dim_ = int(first.shape[0])
        values = np.stack([self._as_vector(frame, p, c, self.dim_) for p, c in zip(positions, cells)])
        if self.standardize:
            self.mean_ = values.mean(axis=0, dtype=np.float64)
            std = values.std(axis=0, dtype=np.float64)
            self.std_ = np.where(std > 1e-8, std, 1.0)
        else:
            self.mean_, self.std_ = np.zeros(self.dim_), np.ones(self.dim_)

    def _transform(self, frame: pd.DataFrame) -> torch.Tensor:
        out = np.zeros((len(frame), self.dim_), dtype=np.float32)
        positions, cells = self._present_values(frame)
        if len(positions):
            values = np.stack([self._as_vector(frame, p, c, self.dim_) for p, c in zip(positions, cells)])
            out[positions] = (values - self.mean_) / self.std_
        return torch.from_numpy(out)

    def _input_info(self) -> dict[str, Any]:
        return {"dim": self.dim_}

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"dim": self.dim_}, {"mean": self.mean_, "std": self.std_}

    def _load_fitted_state(self, fitted: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        require_arrays(arrays, ["mean", "std"], "vector preprocessing")
        self.dim_ = int(fitted["dim"])
        self.mean_ = np.asarray(arrays["mean"], dtype=np.float64)
        self.std_ = np.asarray(arrays["std"], dtype=np.float64)

    def _as_vector(self, frame: pd.DataFrame, position: int, cell: Any, dim: int | None) -> np.ndarray:
        where = f"column {self.column!r}, row {row_label(frame, position)}"
        try:
            vector = np.asarray(cell, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{where}: expected a vector of numbers, got {type(cell).__name__}") from None
        if vector.ndim != 1 or vector.size == 0:
            raise ValueError(f"{where}: expected a non-empty 1-D vector, got shape {vector.shape}")
        if dim is not None and vector.shape[0] != dim:
            raise ValueError(
                f"{where}: vector has length {vector.shape[0]} but the training vectors have length {dim}; "
                "every row must have the same length"
            )
        if not np.all(np.isfinite(vector)):
            raise ValueError(f"{where}: vector contains NaN or infinite values")
        return vector
