"""Property-based fuzzing of schema inference and table validation.

Random tables (numbers with NaN and infinities, strings, empty strings, None, lists, nested lists,
booleans, mixed columns, random and awkward column names), random targets, overrides and task
overrides: reading, inferring and validating a table either succeeds or raises polymodal's own
documented errors (``DataError``, a ``ValueError``; never an ``AssertionError``, ``KeyError``,
``TypeError``, ``IndexError`` ...). With ``on_error="skip"`` nothing but a ``DataError`` for the table as a
whole (an empty table, a bad target) may escape, and every kept row is accounted for.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from polymodal.data.schema import infer_schema
from polymodal.data.table import read_table
from polymodal.data.validation import load_table
from polymodal.errors import PolymodalError

KINDS = ["image", "audio", "text", "numeric", "categorical", "vector", "ignore", "tensor", ""]
TASKS = ["binary", "multiclass", "multilabel", "regression", "ranking"]

cells = st.one_of(
    st.none(),
    st.integers(-10, 10),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 1e308]),
    st.text(max_size=12),
    st.sampled_from(["", " ", "a.png", "missing.wav", "[1, 2]", "[1, 'x']", "1,2,3", "nan", "cat", "dog"]),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4),
    st.lists(st.lists(st.integers(), max_size=2), max_size=2),
    st.booleans(),
)
names = st.one_of(st.sampled_from(["x", "y", "label", "text", "image", "a b", "é", "0", ""]), st.text(max_size=6))


@st.composite
def tables(draw: st.DrawFn) -> pd.DataFrame:
    n_rows = draw(st.integers(0, 8))
    columns = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    data = {}
    for col in columns:
        style = draw(st.sampled_from(["mixed", "numbers", "labels", "texts"]))
        if style == "numbers":
            values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n_rows, max_size=n_rows))
        elif style == "labels":
            values = draw(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=n_rows, max_size=n_rows))
        elif style == "texts":
            values = draw(st.lists(st.text(max_size=20), min_size=n_rows, max_size=n_rows))
        else:
            values = draw(st.lists(cells, min_size=n_rows, max_size=n_rows))
        data[col] = pd.Series(values, dtype=object) if style in ("mixed", "texts") else values
    return pd.DataFrame(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=tables(), data=st.data(), on_error=st.sampled_from(["raise", "skip"]))
def test_random_tables_raise_only_polymodal_errors(frame: pd.DataFrame, data: st.DataObject, on_error: str,
                                                   tmp_path_factory) -> None:
    columns = list(frame.columns)
    target_pool = st.sampled_from([*columns, "not_a_column"]) if columns else st.just("not_a_column")
    targets = data.draw(st.lists(target_pool, max_size=2, unique=True))
    overrides = data.draw(st.dictionaries(st.sampled_from([*columns, "ghost"]), st.sampled_from(KINDS), max_size=2))
    tasks = data.draw(st.dictionaries(st.sampled_from(targets or ["ghost"]), st.sampled_from(TASKS), max_size=1))
    try:
        table = read_table(frame, base_dir=tmp_path_factory.getbasetemp())
        schema = infer_schema(table.frame, targets, overrides, tasks)
        loaded = load_table(table, schema, on_error=on_error, require_targets=bool(targets))
    except (PolymodalError, ValueError) as exc:
        assert not isinstance(exc, (KeyError, IndexError, AssertionError)), repr(exc)
        assert str(exc), "errors must say what is wrong"
        event(f"refused: {type(exc).__name__}")
        return
    event("accepted")
    # accepted: every row is either kept or reported as dropped, and the kept rows are real rows
    kept = set(np.asarray(loaded.rows).tolist())
    dropped = {d[0] if isinstance(d, tuple) else getattr(d, "row", d) for d in loaded.report.dropped_rows}
    assert kept <= set(range(len(frame)))
    assert len(kept) + len(dropped) >= len(frame) or on_error == "raise"
    for name, cells_ in loaded.modalities.items():
        assert len(cells_) == len(loaded.rows), name


@settings(max_examples=60, deadline=None)
@given(frame=tables())
def test_tables_survive_a_round_trip_through_every_format(frame: pd.DataFrame, tmp_path_factory) -> None:
    folder: Path = tmp_path_factory.mktemp("fmt")
    path = folder / "t.jsonl"
    try:
        frame.to_json(path, orient="records", lines=True)
    except (ValueError, OverflowError, TypeError):  # pandas cannot write it: nothing of ours to test
        return
    try:
        table = read_table(path)
        infer_schema(table.frame, [])
    except (PolymodalError, ValueError) as exc:
        assert not isinstance(exc, (KeyError, IndexError)), repr(exc)
