"""Input columns that look like labels, splits or identifiers: what a run should name before it trains.

A representation learnt from a label column, or a model fed a row's id or the column that encodes its
target, looks strong and learns nothing that transfers. Nothing here changes the schema; it says which
columns to look at and the flag that leaves each out.

Example
-------
>>> import pandas as pd
>>> from polymodal.data.schema import infer_schema
>>> frame = pd.DataFrame({"x": [0.1, 0.5, 0.2, 0.9] * 10, "split": ["train", "test"] * 20})
>>> [s.column for s in suspect_columns(frame, infer_schema(frame, []))]
['split']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from polymodal.data.kinds import ColumnKind
from polymodal.data.schema import Schema

SPLIT_NAMES = frozenset({"split", "fold", "folds", "partition", "subset", "set"})
LABEL_NAMES = frozenset({"label", "labels", "target", "targets", "class", "classes", "y", "outcome", "answer"})
ID_NAMES = frozenset({"id", "ids", "uuid", "guid", "index", "idx", "key", "row", "rowid"})
# a column with at most this many distinct values (and few relative to the rows) may be a label when no
# target says what the labels are (pretraining)
FEW_VALUES = 20


@dataclass(frozen=True)
class SuspectColumn:
    column: str
    modality: str
    reason: str
    flag: str  # the option that leaves it out

    def message(self) -> str:
        return f"input column {self.column!r} (modality {self.modality!r}) {self.reason}; leave it out with {self.flag}"


def _tokens(name: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))
    return {t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t}


def _id_name(column: str) -> bool:
    return bool(_tokens(column) & ID_NAMES) or str(column).lower().endswith("_id")


def _same_grouping(a: pd.Series, b: pd.Series) -> bool:
    """Whether ``a`` and ``b`` split the rows into the same groups (one is a relabelling of the other)."""
    both = pd.DataFrame({"a": a.astype(str).to_numpy(), "b": b.astype(str).to_numpy()})
    pairs = both.drop_duplicates()
    return len(pairs) == both["a"].nunique() == both["b"].nunique()


def _determines(a: pd.Series, b: pd.Series) -> bool:
    """Whether the value of ``a`` fixes the value of ``b`` in every row (``b`` groups ``a``'s groups)."""
    both = pd.DataFrame({"a": a.astype(str).to_numpy(), "b": b.astype(str).to_numpy()})
    return bool(both.groupby("a")["b"].nunique().max() == 1) and both["b"].nunique() < both["a"].nunique()


def suspect_columns(frame: pd.DataFrame, schema: Schema, unsupervised: bool = False) -> list[SuspectColumn]:
    """The input columns of ``schema`` (numeric or categorical; a text column only by an identifier's name;
    media never) that look like a split column, a label, or an identifier, each with the reason and the
    flag that leaves it out.

    Looked for: a name such as ``split``/``fold``, ``label``/``target``/``class``, ``id``/``index``; a column
    grouping the rows exactly as a target does (it encodes the target); a column whose value every other
    input column's groups determine (a split by speaker); a value distinct in every row (an identifier);
    without targets (``unsupervised``), few distinct values (a label, perhaps).
    """
    n = len(frame)
    targets = [t.column for t in schema.targets if t.column in frame.columns]
    columns = [(spec.name, column) for spec in schema.modalities for column in spec.columns
               if spec.column_kinds.get(column) in (ColumnKind.NUMERIC, ColumnKind.CATEGORICAL)]
    # a text column is a caption, a review: only its name can say it is an identifier (every value differs)
    found = [SuspectColumn(column, spec.name, "looks like an identifier (its name)", f"--ignore {column}")
             for spec in schema.modalities for column in spec.columns
             if spec.column_kinds.get(column) is ColumnKind.TEXT and _id_name(column)]
    # columns few enough to compare pairwise (each comparison is a group-by over the rows)
    grouping = ({c for _, c in columns if frame[c].nunique(dropna=True) <= max(FEW_VALUES, n // 10)}
                if len(columns) <= 50 else set())
    for modality, column in columns:
        values = frame[column]
        tokens = _tokens(column)
        distinct = int(values.nunique(dropna=True))
        reason: str | None = None
        flag = f"--ignore {column}"
        if tokens & SPLIT_NAMES:
            reason, flag = "looks like a split column (its name)", f"--split-column {column} (or --ignore {column})"
        elif tokens & LABEL_NAMES:
            reason = "looks like a label (its name)"
        elif _id_name(column):
            reason = "looks like an identifier (its name)"
        elif target := next((t for t in targets if _same_grouping(values, frame[t])), None):
            reason = f"groups the rows exactly as the target {target!r} does (it encodes the target)"
        elif n >= 20 and distinct == n and values.notna().all() and not pd.api.types.is_float_dtype(values):
            reason = "holds a different value in every row (an identifier?)"
        elif 1 < distinct <= 3 and (finer := next((c for c in sorted(grouping - {column})
                                                   if _determines(frame[c], values)), None)):
            reason = f"is fixed by {finer!r} in every row (a split or group by {finer}?)"
        if reason is None and unsupervised and 1 < distinct <= FEW_VALUES and distinct <= max(2, n // 10):
            reason = f"has only {distinct} distinct values (a label?)"
        if reason is not None:
            found.append(SuspectColumn(column, modality, reason, flag))
    return found


def input_summary(schema: Schema) -> str:
    """``modality (kind) <- columns`` for every modality, one line each: what a run trains on."""
    return "\n".join(f"  {spec.name} ({spec.kind.value}) <- {', '.join(spec.columns)}" for spec in schema.modalities)


__all__ = ["SuspectColumn", "input_summary", "suspect_columns"]
