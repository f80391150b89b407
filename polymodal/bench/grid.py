"""A grid of benchmark runs that survives being stopped: finished runs are never redone.

:func:`run_grid` runs every :class:`~polymodal.bench.run.RunSpec` not yet finished in ``runs_file``
(matched by :meth:`RunSpec.key`), each in a fresh process, and rewrites ``runs_file`` atomically after
each run, so a grid killed half-way resumes where it stopped. A failed run is recorded with its error
and the grid goes on; failed runs are retried on the next call unless ``retry_failed`` is false.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from polymodal.bench.results import write_table
from polymodal.bench.run import RunSpec, run_isolated


def read_runs(path: Path) -> pd.DataFrame:
    """The rows recorded so far in ``path`` (empty when it does not exist)."""
    if not path.exists():
        return pd.DataFrame()
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"key": str, "error": str})
    if path.suffix.lower() == ".jsonl":
        return pd.read_json(path, lines=True, dtype={"key": str, "error": str})
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    raise ValueError(f"cannot read runs from {path}: use .csv, .jsonl or .parquet")


def run_grid(
    specs: Sequence[RunSpec],
    runs_file: str | Path,
    *,
    retry_failed: bool = True,
    timeout: float | None = None,
    on_row: Callable[[dict[str, Any], int, int], None] | None = None,
    runner: Callable[..., dict[str, Any]] = run_isolated,
) -> pd.DataFrame:
    """Run the unfinished ``specs``, appending one row per run to ``runs_file``; return every row.

    ``on_row(row, done, total)`` is called after each run (for progress output).
    """
    path = Path(runs_file)
    keys = [s.key() for s in specs]
    if len(set(keys)) != len(keys):
        raise ValueError("the grid has duplicate runs (same method, dataset, seed and options)")
    previous = read_runs(path)
    rows: list[dict[str, Any]] = (
        [{str(k): v for k, v in r.items()} for r in previous.to_dict(orient="records")] if len(previous) else [])
    finished = {r["key"] for r in rows if r.get("status") == "ok" or not retry_failed}
    rows = [r for r in rows if r["key"] in finished or r["key"] not in keys]
    todo = [s for s in specs if s.key() not in finished]
    for i, spec in enumerate(todo, start=1):
        row = runner(spec, timeout=timeout)
        rows.append(row)
        write_table(pd.DataFrame(rows), path)
        if on_row is not None:
            on_row(row, len(specs) - len(todo) + i, len(specs))
    frame = pd.DataFrame(rows)
    order = {k: i for i, k in enumerate(keys)}
    if len(frame):
        frame = frame.assign(_order=frame["key"].map(order).fillna(len(order))).sort_values(
            "_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    return frame
