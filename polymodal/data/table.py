"""Reading tables: a pandas DataFrame, or any location :mod:`polymodal.data.sources` opens (CSV/TSV, Parquet,
JSONL, a folder or glob of Parquet shards, a URL), and where their relative paths point."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from polymodal.data.sources import READERS, check_header, is_url, open_source, refuse_repeated_names

__all__ = ["READERS", "Table", "check_header", "read_table"]


@dataclass
class Table:
    """A table and the folder its relative file paths resolve against."""

    frame: pd.DataFrame
    base_dir: Path | str  # a local folder, or the URL of a remote table's folder
    source: str  # the location it came from, or "<DataFrame>"

    def __len__(self) -> int:
        return len(self.frame)


def read_table(source: str | Path | pd.DataFrame | Table, base_dir: str | Path | None = None) -> Table:
    """Read ``source`` into a :class:`Table`.

    ``source`` is a DataFrame, a table file, a folder or glob of Parquet shards, or a URL (see
    :func:`~polymodal.data.sources.open_source`). Relative paths in the table resolve against the table
    file's folder (the shard folder, a remote table's folder URL; or ``base_dir``, or the current folder
    for a DataFrame). The row index is reset to ``0..N-1``: rows are reported by
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
    opened = open_source(source)
    frame = opened.read_frame()
    base = opened.base if base_dir is None else str(base_dir) if is_url(str(base_dir)) else Path(base_dir).resolve()
    return Table(_string_columns(frame, opened.location), base, opened.location)


def _string_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Column names as strings (JSON readers turn a column named "0" into the number 0); names that
    collide once written as strings are an error."""
    names = [str(c) for c in frame.columns]
    refuse_repeated_names(names, source)
    if names != list(frame.columns):
        frame = frame.set_axis(names, axis=1)
    return frame


def column_names(path: str | Path) -> list[str]:
    """The column names of the table at ``path`` (a file, shards, a URL), read from its header or schema
    alone (the rows are not read)."""
    return open_source(path).column_names()
