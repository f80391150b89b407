"""Reading tables: a pandas DataFrame, CSV/TSV, Parquet or JSONL, and where their relative paths point."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from polymodal.errors import DataError, Problem

READERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}


@dataclass
class Table:
    """A table and the folder its relative file paths resolve against."""

    frame: pd.DataFrame
    base_dir: Path
    source: str  # the file it came from, or "<DataFrame>"

    def __len__(self) -> int:
        return len(self.frame)


def read_table(source: str | Path | pd.DataFrame | Table, base_dir: str | Path | None = None) -> Table:
    """Read ``source`` into a :class:`Table`.

    Relative paths in the table resolve against the table file's folder (or ``base_dir``, or the
    current folder for a DataFrame). The row index is reset to ``0..N-1``: rows are reported by
    that position.

    Example
    -------
    >>> import pandas as pd
    >>> read_table(pd.DataFrame({"x": [1.0, 2.0]})).frame.shape
    (2, 1)
    """
    if isinstance(source, Table):
        return source
    if isinstance(source, pd.DataFrame):
        root = Path(base_dir) if base_dir is not None else Path.cwd()
        return Table(_string_columns(source.reset_index(drop=True), "<DataFrame>"), root.resolve(), "<DataFrame>")
    path = Path(source)
    if not path.exists():
        raise DataError(f"table {path} does not exist", [Problem("file not found", file=str(path))])
    if path.is_dir():
        raise DataError(f"{path} is a folder; pass a table file (CSV, Parquet or JSONL)")
    fmt = READERS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"cannot read {path}: unknown table format {path.suffix!r}; "
            f"use one of {', '.join(sorted(READERS))}"
        )
    check_header(path, fmt)
    try:
        frame = _read(path, fmt)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read table {path} as {fmt}: {exc}") from exc
    root = Path(base_dir) if base_dir is not None else path.parent
    return Table(_string_columns(frame.reset_index(drop=True), str(path)), root.resolve(), str(path))


def _string_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Column names as strings (JSON readers turn a column named "0" into the number 0); names that
    collide once written as strings are an error."""
    names = [str(c) for c in frame.columns]
    _refuse_repeated_names(names, source)
    if names != list(frame.columns):
        frame = frame.set_axis(names, axis=1)
    return frame


def _refuse_repeated_names(names: list[str], source: str) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"table {source} has repeated column names: {', '.join(map(repr, repeated))}",
                        [Problem(f"column name {n!r} appears more than once", column=n, file=source,
                                 hint="give every column its own name") for n in repeated])


def column_names(path: Path) -> list[str]:
    """The column names of the table file ``path``, read from its header alone (the rows are not read)."""
    fmt = READERS.get(path.suffix.lower())
    if not path.is_file() or fmt is None:
        read_table(path)  # the error that reading it would give: missing, a folder, an unknown format
    check_header(path, str(fmt))
    return _header_names(path, str(fmt))


def check_header(path: Path, fmt: str) -> None:
    """Refuse a table file whose header repeats a column name (``fmt`` as in :data:`READERS`)."""
    try:
        names = _header_names(path, fmt)
    except (ValueError, OSError, csv.Error) as exc:  # UnicodeDecodeError and pyarrow's errors are ValueErrors
        raise DataError(f"cannot read table {path} as {fmt}: {exc}") from exc
    _refuse_repeated_names(names, str(path))


def _header_names(path: Path, fmt: str) -> list[str]:
    """The column names as the file writes them (pandas renames repeated CSV names ``num``, ``num.1``;
    JSON readers keep the last of repeated keys): every name of the header row, of the Parquet schema, or of
    the keys of each JSON record."""
    if fmt in ("csv", "tsv"):
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh, delimiter="\t" if fmt == "tsv" else ","), [])
    if fmt == "parquet":
        return [str(n) for n in pq.read_schema(path).names]
    names: list[str] = []
    with path.open(encoding="utf-8") as fh:
        records = (line for line in fh if line.strip()) if fmt == "jsonl" else [fh.read()]
        for text in records:
            try:
                json.loads(text, object_pairs_hook=lambda pairs: _repeated_keys(pairs, names))
            except json.JSONDecodeError:
                return []  # pandas reports the syntax error
            if names:
                return names
    return names


def _repeated_keys(pairs: list[tuple[str, object]], found: list[str]) -> dict[str, object]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) < len(keys) and not found:
        found.extend(keys)
    return dict(pairs)


def _read(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(path)
    if fmt == "tsv":
        return pd.read_csv(path, sep="\t")
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "jsonl":
        return pd.read_json(path, lines=True)
    return pd.read_json(path)
