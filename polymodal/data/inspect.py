"""What ``polymodal inspect`` shows: the inferred schema, counts per column and every problem."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from polymodal.data.cells import is_missing
from polymodal.data.schema import Schema
from polymodal.data.table import Table
from polymodal.data.validation import ValidationReport, load_table
from polymodal.errors import DataError


@dataclass
class Inspection:
    schema: Schema
    columns: list[dict[str, Any]]
    report: ValidationReport


def inspect_table(table: Table, schema: Schema, data_root: str | None = None) -> Inspection:
    """Load every cell (problems are collected, never raised) and count values per column."""
    try:
        report = load_table(table, schema, on_error="skip", data_root=data_root).report
    except DataError as exc:  # no usable row at all: still show every problem
        report = ValidationReport(n_rows=len(table.frame), problems=exc.problems)
    columns = []
    frame = table.frame
    for spec in schema.modalities:
        for col in spec.columns:
            columns.append(_column_stats(frame, col, spec.column_kinds[col].value, spec.name))
    for target in schema.targets:
        columns.append(_column_stats(frame, target.column, f"target ({target.task.value})", "-"))
    for col in schema.ignored:
        columns.append(_column_stats(frame, col, "ignored", "-"))
    return Inspection(schema, columns, report)


def _column_stats(frame: Any, column: str, kind: str, modality: str) -> dict[str, Any]:
    values = frame[column].tolist()
    present = [v for v in values if not is_missing(v)]
    try:
        unique = len({str(v) for v in present})
    except TypeError:
        unique = None
    return {"column": column, "kind": kind, "modality": modality, "present": len(present),
            "missing": len(values) - len(present), "unique": unique}
