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
from polymodal.errors import DataError, PolymodalError

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


# -- extension dtypes, markup in names and cells, random bytes as media files ---------------------------------

MARKUP = ["[/]", "[red]x", "score[/]", "[bold]", "[link=file:///etc/passwd]a[/link]", "\\[x]", "[", "]"]
markup_text = st.one_of(st.sampled_from(MARKUP), st.builds("".join, st.lists(st.sampled_from([*MARKUP, "a", " "]),
                                                                                  max_size=4)))


@st.composite
def typed_tables(draw: st.DrawFn) -> tuple[pd.DataFrame, dict[str, bytes]]:
    """Tables of pandas extension dtypes with blanks, markup in names and cells, and path columns whose
    files hold random bytes (returned to be written: name -> bytes)."""
    n_rows = draw(st.integers(1, 6))
    columns = draw(st.lists(st.one_of(markup_text, names), min_size=1, max_size=4, unique=True))
    blank = st.one_of(st.none(), st.just(pd.NA))
    data: dict[str, object] = {}
    files: dict[str, bytes] = {}
    for i, col in enumerate(columns):
        style = draw(st.sampled_from(["Int64", "boolean", "string", "datetime", "markup", "media"]))
        rows = st.lists
        if style == "Int64":
            data[col] = pd.array(draw(rows(st.one_of(st.integers(-3, 3), blank), min_size=n_rows, max_size=n_rows)),
                                 dtype="Int64")
        elif style == "boolean":
            data[col] = pd.array(draw(rows(st.one_of(st.booleans(), blank), min_size=n_rows, max_size=n_rows)),
                                 dtype="boolean")
        elif style == "string":
            data[col] = pd.array(draw(rows(st.one_of(st.sampled_from(["a", "b", "a b c d"]), markup_text, blank),
                                           min_size=n_rows, max_size=n_rows)), dtype="string[pyarrow]")
        elif style == "datetime":
            stamps = draw(rows(st.one_of(st.none(), st.datetimes(min_value=pd.Timestamp("1900-01-01").to_pydatetime(),
                                                                  max_value=pd.Timestamp("2200-01-01").to_pydatetime())),
                               min_size=n_rows, max_size=n_rows))
            data[col] = pd.Series(pd.to_datetime(stamps))
        elif style == "markup":
            data[col] = pd.Series(draw(rows(st.one_of(markup_text, st.none()), min_size=n_rows, max_size=n_rows)),
                                  dtype=object)
        else:
            ext = draw(st.sampled_from([".png", ".wav", ".jpg", ".flac"]))
            paths = [f"f{i}_{r}{ext}" for r in range(n_rows)]
            for path in paths:
                files[path] = draw(st.binary(max_size=64).map(
                    lambda b, ext=ext: (b"\x89PNG\r\n\x1a\n" + b) if ext == ".png" and b[:1] == b"P" else b))
            data[col] = pd.Series(paths, dtype=object)
    return pd.DataFrame(data), files


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(drawn=typed_tables(), data=st.data())
def test_extension_dtypes_markup_and_random_media_raise_only_polymodal_errors(
        drawn: tuple[pd.DataFrame, dict[str, bytes]], data: st.DataObject, tmp_path_factory) -> None:
    frame, files = drawn
    folder: Path = tmp_path_factory.mktemp("media")
    for name, content in files.items():
        (folder / name).write_bytes(content)
    columns = list(frame.columns)
    targets = data.draw(st.lists(st.sampled_from(columns), max_size=1, unique=True))
    on_error = data.draw(st.sampled_from(["raise", "skip"]))
    try:
        table = read_table(frame, base_dir=folder)
        schema = infer_schema(table.frame, targets)
    except (PolymodalError, ValueError) as exc:
        assert not isinstance(exc, (KeyError, IndexError, AssertionError)), repr(exc)
        assert str(exc)
        return
    try:
        loaded = load_table(table, schema, on_error=on_error, require_targets=bool(targets))
    except DataError as exc:
        assert str(exc)
        if on_error == "skip":  # only a table-level refusal may escape skip: no usable row at all
            assert str(exc).startswith("no usable row left"), str(exc)
        event(f"refused: {type(exc).__name__}")
        return
    event("accepted")
    for name, cells_ in loaded.modalities.items():
        assert len(cells_) == len(loaded.rows), name
        # a blank is a missing cell, never the category or text '<NA>' / 'NaT' (nothing drawn spells them)
        assert not {"<NA>", "NaT", "nan", "None"} & {v for col in cells_ for v in cells_[col] if isinstance(v, str)}
    for problem in loaded.report.problems:
        assert problem.message and "<NA>" not in problem.message
