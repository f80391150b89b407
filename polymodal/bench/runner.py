"""``polymodal bench``: run a grid, summarise it, write the results and the HTML report.

Layout of the output folder::

    out/
      bench.json        the resolved grid (what was asked)
      runs.csv          one row per run: every metric, cost, status and error (rewritten after each run)
      summary.csv/.md   mean and standard deviation per dataset and method
      artifacts/<key>/  per-run history, test predictions, 2-D embedding map (for the report)
      report.html       the self-contained report

Calling it again with the same grid resumes: finished runs are kept, the rest run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from polymodal.bench.config import BenchConfig
from polymodal.bench.grid import run_grid
from polymodal.bench.report import write_report
from polymodal.bench.results import markdown_table, write_table
from polymodal.bench.run import run_inline, run_isolated, summarize
from polymodal.engine.atomic import atomic_write_json


def main_metric(runs: pd.DataFrame) -> str:
    """The column the comparison is about: the first target's test (else validation) accuracy, else R2."""
    for split in ("test", "val"):
        for name in ("accuracy", "r2", "macro_f1", "rmse"):
            columns = [c for c in runs.columns if c.startswith(f"{split}_") and c.endswith(f"_{name}")]
            if columns:
                return columns[0]
    raise ValueError("no metric columns in the runs (did every run fail?)")


def run_benchmark(
    config: BenchConfig, out: str | Path, on_row: Callable[[dict[str, Any], int, int], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) the grid into ``out``; return paths and the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "bench.json", config.model_dump())
    artifacts = out / "artifacts"
    specs = config.specs(artifacts=artifacts)
    runner = run_isolated if config.isolate else run_inline
    runs = run_grid(specs, out / "runs.csv", timeout=config.timeout, on_row=on_row, runner=runner)
    ok = runs[runs["status"] == "ok"] if "status" in runs else runs
    result: dict[str, Any] = {"runs": out / "runs.csv", "n_ok": len(ok), "n_failed": len(runs) - len(ok)}
    if not len(ok):
        return result
    metric = main_metric(ok)
    summary = summarize(runs, ["dataset", "method"])
    write_table(summary, out / "summary.csv")
    keep = ["dataset", "method", "runs", *[c for c in summary.columns if c.endswith(("_mean", "_std"))
                                           and (c.startswith(("test_", "missing_", "val_")) or "seconds" in c)]]
    write_table(summary[keep], out / "summary.md")
    reports = []
    for dataset, part in summary.groupby("dataset", sort=False):
        name = "report.html" if summary["dataset"].nunique() == 1 else f"report-{_slug(str(dataset))}.html"
        rows = runs[runs["dataset"] == dataset]
        reports.append(write_report(out / name, rows, part.reset_index(drop=True), metric=main_metric(rows[
            rows["status"] == "ok"]), artifacts=artifacts, title=f"{config.name}: {dataset}"))
    result.update(summary=summary, metric=metric, reports=reports, summary_md=out / "summary.md")
    return result


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text).strip("-") or "dataset"


def summary_markdown(summary: pd.DataFrame, metric: str) -> str:
    """A short Markdown table: method, dataset, runs and the main metric as mean ± std."""
    frame = pd.DataFrame({
        "dataset": summary["dataset"], "method": summary["method"], "runs": summary["runs"],
        metric: [f"{m:.4f} ± {s:.4f}" for m, s in zip(summary[f"{metric}_mean"], summary[f"{metric}_std"],
                                                       strict=True)],
    })
    return markdown_table(frame)
