"""Target encoding: labels to class indices (fitted on training rows), regression values standardised."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from polymodal.data.cells import is_missing, parse_label_list, to_float
from polymodal.data.schema import TargetSpec, TaskKind
from polymodal.errors import DataError, Problem


def _json_label(value: Any) -> Any:
    """Labels as JSON-able Python values, so they round-trip through the bundle."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        as_float = float(value)
        return int(as_float) if as_float.is_integer() else as_float
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    return value if isinstance(value, (int, str)) else str(value)


def single_class_problem(column: str, classes: list[Any]) -> Problem:
    return Problem(f"target {column!r} has a single class {classes}", column=column,
                   hint="a classifier needs at least two classes: check the target column and its rows")


def target_problems(spec: TargetSpec, values: pd.Series) -> list[Problem]:
    """Problems of a whole target column that no single row shows (a classification target with one class)."""
    if spec.task in (TaskKind.REGRESSION, TaskKind.MULTILABEL):
        return []
    classes = sorted({_json_label(v) for v in values if not is_missing(v)}, key=lambda x: (str(type(x)), x))
    return [single_class_problem(spec.column, classes)] if len(classes) == 1 else []


MISSING_CLASS = -1  # the encoded class index of a row without this target (a multi-task row's empty label)


def target_present(task: TaskKind, target: torch.Tensor) -> torch.Tensor:
    """Bool ``[B]``: the rows of an encoded ``target`` that hold a label. A multi-task table may leave a
    target empty in a row (a partial label): it is encoded as class :data:`MISSING_CLASS` (multiclass) or
    NaN (binary, multilabel, regression), and masked out of that target's loss and metrics.

    >>> target_present(TaskKind.MULTICLASS, torch.tensor([0, -1, 2])).tolist()
    [True, False, True]
    """
    if task is TaskKind.MULTICLASS:
        return target >= 0
    return labelled_rows(target)


def labelled_rows(target: torch.Tensor) -> torch.Tensor:
    """:func:`target_present` read from the tensor alone: class codes ``>= 0``, or float rows without NaN."""
    if not target.is_floating_point():
        return target >= 0
    missing = torch.isnan(target)
    return ~(missing.flatten(1).any(dim=1) if missing.dim() > 1 else missing)


class TargetEncoder:
    """Encodes one target column for its task.

    Classification: ``classes_`` (sorted) and indices; an unseen label at evaluation time is an error
    naming its rows. Multilabel: multi-hot over ``classes_``. Regression: standardised with the training
    mean and standard deviation (predictions are returned in the original units). An empty cell (a
    multi-task row without this label) is left out of ``fit`` and encoded as missing (see
    :func:`target_present`).
    """

    def __init__(self, spec: TargetSpec) -> None:
        self.spec = spec
        self.classes_: list[Any] = []
        self.mean_ = 0.0
        self.std_ = 1.0

    @property
    def task(self) -> TaskKind:
        return self.spec.task

    @property
    def num_outputs(self) -> int:
        if self.task is TaskKind.REGRESSION:
            return 1
        if self.task is TaskKind.BINARY:
            return 1
        return len(self.classes_)

    def fit(self, values: pd.Series) -> TargetEncoder:
        values = values[[not is_missing(v) for v in values]]
        if self.task is TaskKind.REGRESSION:
            numbers = np.asarray([to_float(v) for v in values], dtype=np.float64)
            self.mean_ = float(numbers.mean())
            self.std_ = float(numbers.std()) or 1.0
            return self
        if self.task is TaskKind.MULTILABEL:
            labels = {lab for v in values for lab in self._labels(v)}
        else:
            labels = {_json_label(v) for v in values}
        self.classes_ = sorted(labels, key=lambda x: (str(type(x)), x))
        if self.task is TaskKind.BINARY and len(self.classes_) != 2:
            raise DataError(
                f"target {self.spec.column!r} is binary but the training rows hold {len(self.classes_)} "
                f"class(es): {self.classes_}",
                [Problem("a binary target needs exactly two classes", column=self.spec.column,
                         hint="use --task multiclass, or check the split")],
            )
        if len(self.classes_) < 2:
            raise DataError(f"target {self.spec.column!r} has a single class {self.classes_} in the training rows",
                            [single_class_problem(self.spec.column, self.classes_)])
        return self

    def unseen(self, values: pd.Series) -> np.ndarray:
        """Bool ``[N]``: the rows holding a label the encoder never saw (never true for regression)."""
        if self.task is TaskKind.REGRESSION:
            return np.zeros(len(values), dtype=bool)
        known = set(self.classes_)
        if self.task is TaskKind.MULTILABEL:
            return np.fromiter((not is_missing(v) and any(lab not in known for lab in self._labels(v))
                                for v in values), bool, len(values))
        return np.fromiter((not is_missing(v) and _json_label(v) not in known for v in values), bool, len(values))

    def unseen_problems(self, values: pd.Series, rows: np.ndarray) -> list[Problem]:
        """One problem per unseen label, naming its row (a position in the user's table)."""
        index = set(self.classes_)
        pairs = [(r, v) for r, v in zip(rows, values) if not is_missing(v)]
        labels = ([(r, lab) for r, v in pairs for lab in self._labels(v)]
                  if self.task is TaskKind.MULTILABEL else [(r, _json_label(v)) for r, v in pairs])
        return [Problem(f"unseen label {lab!r}", row=int(r), column=self.spec.column,
                        hint="remove the row, or retrain with this label") for r, lab in labels if lab not in index]

    @staticmethod
    def _labels(value: Any) -> list[str]:
        parsed = parse_label_list(value)
        return parsed if parsed is not None else [str(value)]

    def transform(self, values: pd.Series, rows: np.ndarray | None = None) -> torch.Tensor:
        """Encoded targets; ``rows`` (the rows' positions in the user's table) is used in error messages."""
        rows = np.arange(len(values)) if rows is None else rows
        if self.task is TaskKind.REGRESSION:  # an empty cell is NaN: a missing label
            numbers = np.asarray([to_float(v) for v in values], dtype=np.float32)
            return torch.from_numpy((numbers - self.mean_) / self.std_).unsqueeze(-1)
        index = {c: i for i, c in enumerate(self.classes_)}
        missing = [is_missing(v) for v in values]
        if self.task is TaskKind.MULTILABEL:
            out = torch.zeros(len(values), len(self.classes_))
            unseen = [(r, lab) for r, v, m in zip(rows, values, missing) if not m
                      for lab in self._labels(v) if lab not in index]
            self._raise_unseen(unseen)
            for i, (v, m) in enumerate(zip(values, missing)):
                if m:
                    out[i] = float("nan")
                else:
                    out[i, [index[lab] for lab in self._labels(v)]] = 1.0
            return out
        labels = [None if m else _json_label(v) for v, m in zip(values, missing)]
        self._raise_unseen([(r, lab) for r, lab, m in zip(rows, labels, missing) if not m and lab not in index])
        codes = torch.tensor([MISSING_CLASS if m else index[lab] for lab, m in zip(labels, missing)], dtype=torch.long)
        if self.task is TaskKind.BINARY:
            return torch.where(codes >= 0, codes.float(), float("nan")).unsqueeze(-1)
        return codes

    def _raise_unseen(self, unseen: list[tuple[Any, Any]]) -> None:
        if unseen:
            raise DataError(
                f"{len(unseen)} row(s) of target {self.spec.column!r} hold labels the model never saw in "
                f"training; known labels: {self.classes_} (--on-error skip drops such rows)",
                [Problem(f"unseen label {lab!r}", row=int(r), column=self.spec.column,
                         hint="remove the row, or retrain with this label") for r, lab in unseen],
            )

    def decode(self, outputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """Model outputs (logits, or standardised values) to (predictions, probabilities or None)."""
        if self.task is TaskKind.REGRESSION:
            return (outputs.squeeze(-1).double().numpy() * self.std_ + self.mean_), None
        if self.task is TaskKind.BINARY:
            p1 = torch.sigmoid(outputs.squeeze(-1)).double().numpy()
            probs = np.stack([1 - p1, p1], axis=1)
            return np.asarray(self.classes_, dtype=object)[(p1 >= 0.5).astype(int)], probs
        if self.task is TaskKind.MULTILABEL:
            probs = torch.sigmoid(outputs).double().numpy()
            labels = np.empty(len(probs), dtype=object)
            labels[:] = [[c for c, p in zip(self.classes_, row) if p >= 0.5] for row in probs]
            return labels, probs
        probs = torch.softmax(outputs, dim=-1).double().numpy()
        return np.asarray(self.classes_, dtype=object)[probs.argmax(axis=1)], probs

    def get_state(self) -> dict[str, Any]:
        return {"column": self.spec.column, "task": self.task.value, "classes": self.classes_,
                "mean": self.mean_, "std": self.std_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TargetEncoder:
        encoder = cls(TargetSpec(state["column"], TaskKind(state["task"])))
        encoder.classes_ = list(state["classes"])
        encoder.mean_, encoder.std_ = float(state["mean"]), float(state["std"])
        return encoder
