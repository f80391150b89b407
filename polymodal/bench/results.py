"""Writing result tables: atomically, in the format the file name asks for."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from polymodal.storage.atomic import atomic_write_text, atomic_write_with

FORMATS = (".csv", ".parquet", ".jsonl", ".json", ".md")


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` (CSV, Parquet, JSONL, JSON or Markdown by suffix), atomically."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        atomic_write_text(path, frame.to_csv(index=False))
    elif suffix == ".parquet":
        atomic_write_with(path, lambda tmp: frame.to_parquet(tmp, index=False))
    elif suffix == ".jsonl":
        atomic_write_text(path, frame.to_json(orient="records", lines=True) or "")
    elif suffix == ".json":
        atomic_write_text(path, frame.to_json(orient="records", indent=2) or "")
    elif suffix == ".md":
        atomic_write_text(path, markdown_table(frame))
    else:
        raise ValueError(f"cannot write {path}: use one of {', '.join(FORMATS)}")
    return path


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    def cell(v: object) -> str:
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"
