"""The schema of a table: which columns are which modality, and which are targets of which task.

Kinds are inferred from the values and can be overridden (``--modality COL=KIND``). Numeric and
categorical columns are grouped into one ``tabular`` modality; every image, audio, text and vector
column is a modality of its own, named after the column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd

from polymodal.data.cells import (
    AUDIO_EXTENSIONS,
    IMAGE_EXTENSIONS,
    is_missing,
    media_kind,
    parse_label_list,
    parse_vector,
    path_extension,
    to_float,
)
from polymodal.data.kinds import ColumnKind, ModalityKind
from polymodal.errors import DataError, Problem

TABULAR_MODALITY = "tabular"
ROW_COLUMN = "row"
"""The column of predictions that holds each row's position in the table: no target may take its name."""


class TaskKind(str, Enum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    MULTILABEL = "multilabel"
    REGRESSION = "regression"

    @classmethod
    def parse(cls, value: str) -> TaskKind:
        try:
            return cls(value.lower())
        except ValueError:
            valid = ", ".join(k.value for k in cls)
            raise ValueError(f"unknown task {value!r}; valid tasks: {valid}") from None


@dataclass
class ModalitySpec:
    name: str
    kind: ModalityKind
    columns: list[str]
    column_kinds: dict[str, ColumnKind]


@dataclass
class TargetSpec:
    column: str
    task: TaskKind


@dataclass
class Schema:
    modalities: list[ModalitySpec]
    targets: list[TargetSpec]
    ignored: list[str] = field(default_factory=list)

    def modality(self, name: str) -> ModalitySpec:
        for spec in self.modalities:
            if spec.name == name:
                return spec
        raise KeyError(f"no modality {name!r}; modalities: {[m.name for m in self.modalities]}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        modalities = [
            ModalitySpec(
                m["name"],
                ModalityKind(m["kind"]),
                list(m["columns"]),
                {c: ColumnKind(k) for c, k in m["column_kinds"].items()},
            )
            for m in data["modalities"]
        ]
        targets = [TargetSpec(t["column"], TaskKind(t["task"])) for t in data["targets"]]
        return cls(modalities, targets, list(data.get("ignored", [])))


def _present(series: pd.Series) -> list[Any]:
    return [v for v in series.tolist() if not is_missing(v)]


def infer_column_kind(series: pd.Series) -> ColumnKind:
    """Guess what a column holds from its non-missing values (a majority decides, so that a few bad
    cells are reported as problems instead of changing the kind). Media held in the cells (encoded bytes,
    Hugging Face ``{bytes, path}`` structs, image arrays, PIL images, ``(samples, rate)`` tuples; see
    :func:`~polymodal.data.cells.media_kind`) are image or audio columns, as are paths to such files."""
    values = _present(series)
    if not values:
        return ColumnKind.IGNORE
    if pd.api.types.is_datetime64_any_dtype(series):
        return ColumnKind.IGNORE  # reported by load_table; a --modality override gives it a kind
    if pd.api.types.is_bool_dtype(series):
        return ColumnKind.CATEGORICAL
    if pd.api.types.is_numeric_dtype(series):
        return ColumnKind.NUMERIC
    n = len(values)
    held = [media_kind(v) for v in values]
    for kind in (ColumnKind.IMAGE, ColumnKind.AUDIO):
        if sum(k == kind.value for k in held) >= 0.8 * n:
            return kind
    if sum(parse_vector(v) is not None for v in values) >= 0.8 * n:
        return ColumnKind.VECTOR
    extensions = [path_extension(v) for v in values]
    if sum(e in IMAGE_EXTENSIONS for e in extensions) >= 0.8 * n:
        return ColumnKind.IMAGE
    if sum(e in AUDIO_EXTENSIONS for e in extensions) >= 0.8 * n:
        return ColumnKind.AUDIO
    if sum(to_float(v) is not None for v in values) >= 0.8 * n:
        return ColumnKind.NUMERIC
    strings = [str(v) for v in values]
    n_unique = len(set(strings))
    mean_words = float(np.mean([len(s.split()) for s in strings]))
    if mean_words < 3 and n_unique <= max(20, int(0.05 * n)):
        return ColumnKind.CATEGORICAL
    return ColumnKind.TEXT


def infer_task(series: pd.Series) -> TaskKind:
    """Guess the task of a target column."""
    values = _present(series)
    if values and sum(parse_label_list(v) is not None for v in values) >= 0.8 * len(values):
        return TaskKind.MULTILABEL
    n_unique = len({str(v) for v in values})
    if pd.api.types.is_float_dtype(series):
        floats = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(floats)) or np.any(floats != np.round(floats)) or n_unique > 20:
            return TaskKind.REGRESSION
    elif pd.api.types.is_integer_dtype(series) and n_unique > 20:
        return TaskKind.REGRESSION
    return TaskKind.BINARY if n_unique == 2 else TaskKind.MULTICLASS


def parse_overrides(items: Sequence[str] | Mapping[str, str] | None) -> dict[str, ColumnKind]:
    """``["col=image", ...]`` or ``{"col": "image"}`` to ``{col: ColumnKind}``."""
    if items is None:
        return {}
    pairs: list[tuple[str, str]] = []
    if isinstance(items, Mapping):
        pairs = [(str(k), str(v)) for k, v in items.items()]
    else:
        for item in items:
            if "=" not in item:
                raise ValueError(f"modality override {item!r} must look like COLUMN=KIND")
            col, kind = item.rsplit("=", 1)
            pairs.append((col.strip(), kind.strip()))
    return {col: ColumnKind.parse(kind) for col, kind in pairs}


def infer_schema(
    frame: pd.DataFrame,
    targets: Sequence[str] | str | None,
    overrides: Sequence[str] | Mapping[str, str] | None = None,
    tasks: Mapping[str, str] | None = None,
    ignore: Sequence[str] = (),
    group_tabular: bool = True,
) -> Schema:
    """Infer the schema of ``frame``.

    Parameters
    ----------
    targets : the target column(s); may be empty for unsupervised use.
    overrides : ``COLUMN=KIND`` items; ``KIND`` is one of image, audio, text, numeric, categorical,
        vector, ignore.
    tasks : task per target column, overriding inference (binary, multiclass, multilabel, regression).
    ignore : columns that are neither modalities nor targets (ids, split markers).
    group_tabular : put numeric and categorical columns into one ``tabular`` modality (otherwise one
        modality per column).
    """
    target_list = [targets] if isinstance(targets, str) else list(targets or [])
    _check_targets(target_list)
    kinds = parse_overrides(overrides)
    columns = [str(c) for c in frame.columns]
    unknown = [c for c in [*target_list, *kinds, *ignore] if c not in columns]
    if unknown:
        raise DataError(
            f"column(s) {', '.join(repr(c) for c in unknown)} not in the table; columns: {', '.join(columns)}",
            [Problem("no such column", column=c, hint="check the spelling") for c in unknown],
        )
    if frame.empty:
        raise DataError("the table is empty: it has no rows", [Problem("no rows")])
    task_over = {c: TaskKind.parse(t) for c, t in (tasks or {}).items()}
    target_specs = [TargetSpec(c, task_over.get(c) or infer_task(frame[c])) for c in target_list]
    ignored = list(ignore)
    column_kinds: dict[str, ColumnKind] = {}
    for col in columns:
        if col in target_list or col in ignore:
            continue
        kind = kinds.get(col) or infer_column_kind(frame[col])
        if kind is ColumnKind.IGNORE:
            ignored.append(col)
        else:
            column_kinds[col] = kind
    modalities = _group(column_kinds, group_tabular)
    if not modalities:
        raise DataError(
            "no modality columns: every column is a target or ignored",
            [Problem("no input columns", hint="pass --modality COL=KIND for the columns to use")],
        )
    return Schema(modalities, target_specs, ignored)


def _check_targets(target_list: Sequence[str]) -> None:
    repeated = sorted({t for t in target_list if target_list.count(t) > 1})
    if repeated:
        raise DataError(
            f"target(s) {', '.join(map(repr, repeated))} given more than once; give each target once",
            [Problem("target given more than once", column=t, hint="pass --target once per column") for t in repeated],
        )
    if ROW_COLUMN in target_list:
        raise DataError(
            f"a target may not be named {ROW_COLUMN!r}: predictions use that column for the row number; "
            "rename the column in the table",
            [Problem(f"target named {ROW_COLUMN!r}", column=ROW_COLUMN, hint="rename the column, e.g. to row_label")],
        )


def _group(column_kinds: Mapping[str, ColumnKind], group_tabular: bool) -> list[ModalitySpec]:
    modalities: list[ModalitySpec] = []
    tabular_cols = [c for c, k in column_kinds.items() if k in (ColumnKind.NUMERIC, ColumnKind.CATEGORICAL)]
    for col, kind in column_kinds.items():
        if col in tabular_cols:
            if not group_tabular:
                modalities.append(ModalitySpec(col, ModalityKind.TABULAR, [col], {col: kind}))
            continue
        modalities.append(ModalitySpec(col, ModalityKind(kind.value), [col], {col: kind}))
    if group_tabular and tabular_cols:
        name = TABULAR_MODALITY
        while name in column_kinds:
            name = f"_{name}"
        modalities.append(
            ModalitySpec(name, ModalityKind.TABULAR, tabular_cols, {c: column_kinds[c] for c in tabular_cols})
        )
    return modalities
