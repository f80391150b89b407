"""Seeded, stratified splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from polymodal.errors import DataError, Problem

TEST_VALUES = frozenset({"test", "testing", "holdout"})


def split_by_column(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the rows whose ``column`` says test (``test``/``testing``/``holdout``) and of the others."""
    if column not in frame.columns:
        raise DataError(f"split column {column!r} not in the table; columns: {', '.join(map(str, frame.columns))}",
                        [Problem("no such column", column=column)])
    is_test = frame[column].astype(str).str.strip().str.lower().isin(TEST_VALUES).to_numpy()
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def stratified_split(
    n: int, labels: np.ndarray | None, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into (train, validation); stratified by ``labels`` when every class has two rows."""
    index = np.arange(n)
    if n < 2:
        raise DataError(f"cannot split {n} row(s) into training and validation; give at least 2 rows")
    stratify = None
    if labels is not None:
        _, counts = np.unique(labels.astype(str), return_counts=True)
        n_val = max(1, round(fraction * n))
        if counts.min() >= 2 and n_val >= len(counts) and n - n_val >= len(counts):
            stratify = labels.astype(str)
    train, val = train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(val)
