"""What ``polymodal inspect`` shows: the inferred schema, counts per column and every problem.

Per column: ``present`` counts the cells that load (a path whose file exists and reads), ``unreadable``
the filled cells that do not (a missing or broken file, a word in a numeric column), ``missing`` the
blank ones. ``coverage`` gives, per target, the rows that hold its label (a multi-task table may leave a
target empty in some rows: they train the other targets).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from polymodal.data.cells import is_missing
from polymodal.data.schema import Schema
from polymodal.data.table import Table
from polymodal.data.targets import target_problems
from polymodal.data.validation import ValidationReport, load_table
from polymodal.errors import DataError


@dataclass
class Inspection:
    schema: Schema
    columns: list[dict[str, Any]]
    report: ValidationReport
    coverage: list[dict[str, Any]]


def inspect_table(table: Table, schema: Schema, data_root: str | None = None,
                  max_image_pixels: int | Mapping[str, int] | None = None) -> Inspection:
    """Load every cell (problems are collected, never raised) and count values per column."""
    try:
        report = load_table(table, schema, on_error="skip", data_root=data_root,
                            max_image_pixels=max_image_pixels).report
    except DataError as exc:  # no usable row at all: still show every problem
        report = ValidationReport(n_rows=len(table.frame), problems=exc.problems)
    frame = table.frame
    for target in schema.targets:
        report.problems.extend(target_problems(target, frame[target.column]))
    unreadable: dict[str, set[int]] = {}
    for problem in report.errors:
        if problem.column is not None and problem.row is not None:
            unreadable.setdefault(problem.column, set()).add(problem.row)
    columns = []
    for spec in schema.modalities:
        for col in spec.columns:
            columns.append(_column_stats(frame, col, spec.column_kinds[col].value, spec.name, unreadable))
    for target in schema.targets:
        columns.append(_column_stats(frame, target.column, f"target ({target.task.value})", "-", unreadable))
    for col in schema.ignored:
        columns.append(_column_stats(frame, col, "ignored", "-", {}))
    return Inspection(schema, columns, report, label_coverage(frame, schema))


def label_coverage(frame: Any, schema: Schema) -> list[dict[str, Any]]:
    """Per target: the rows holding a label, of all rows, and their fraction."""
    rows = len(frame)
    out = []
    for target in schema.targets:
        labelled = sum(not is_missing(v) for v in frame[target.column].tolist())
        out.append({"target": target.column, "labelled": labelled, "rows": rows,
                    "coverage": round(labelled / rows, 4) if rows else 0.0})
    return out


def _column_stats(frame: Any, column: str, kind: str, modality: str,
                  unreadable: Mapping[str, set[int]]) -> dict[str, Any]:
    values = frame[column].tolist()
    filled = [i for i, v in enumerate(values) if not is_missing(v)]
    bad = unreadable.get(column, set())
    present = [values[i] for i in filled if i not in bad]
    try:
        unique = len({str(v) for v in present})
    except TypeError:
        unique = None
    return {"column": column, "kind": kind, "modality": modality, "present": len(present),
            "unreadable": len(filled) - len(present), "missing": len(values) - len(filled), "unique": unique}
