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
    curves = collect_robustness(ok, artifacts)
    scores = None
    if curves is not None:
        write_table(curves, out / "robustness.csv")
        scores = robustness_table(curves)
        write_table(scores, out / "robustness_scores.csv")
        result["robustness_scores"] = scores
    reports = []
    for dataset, part in summary.groupby("dataset", sort=False):
        name = "report.html" if summary["dataset"].nunique() == 1 else f"report-{_slug(str(dataset))}.html"
        rows = runs[runs["dataset"] == dataset]
        dataset_metric = main_metric(rows[rows["status"] == "ok"])
        reports.append(write_report(
            out / name, rows, part.reset_index(drop=True), metric=dataset_metric, artifacts=artifacts,
            robustness=None if curves is None else report_curves(curves[curves["dataset"] == dataset], dataset_metric),
            robustness_scores=None if scores is None else scores[scores["dataset"] == dataset],
            title=f"{config.name}: {dataset}"))
    result.update(summary=summary, metric=metric, reports=reports, summary_md=out / "summary.md")
    return result


def collect_robustness(ok: pd.DataFrame, artifacts: Path) -> pd.DataFrame | None:
    """Every finished run's robustness curves (``artifacts/<key>/robustness.csv``), concatenated."""
    frames = [pd.read_csv(artifacts / str(key) / "robustness.csv") for key in ok["key"]
              if (artifacts / str(key) / "robustness.csv").exists()]
    return pd.concat(frames, ignore_index=True) if frames else None


def report_curves(curves: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The curves of the main metric's target, with that metric under its run-table name."""
    _, target, name = metric.split("_", 2) if metric.count("_") >= 2 else ("", "", metric)
    part = curves[curves["target"].astype(str) == target] if "target" in curves else curves
    return part.rename(columns={name: metric})


def robustness_table(curves: pd.DataFrame, baseline: str = "late") -> pd.DataFrame:
    """Relative robustness of every run, corruption, modality, target and metric; with a ``baseline``
    method (late fusion) in the grid, effective robustness too: the gain over the baseline at matched
    clean performance, read off the line through the baseline's runs (Taori et al. 2020) when they
    have two or more different clean values, else against the baseline run of the same seed."""
    from polymodal.evaluation.robustness import effective_robustness, robustness_scores

    metrics = [c for c in curves.columns if c not in ("corruption", "modality", "level", "target", "method",
                                                      "dataset", "seed") and pd.api.types.is_numeric_dtype(curves[c])]
    scores = robustness_scores(curves, metrics)
    if baseline not in set(scores["method"]):
        return scores
    base = scores[scores["method"] == baseline]
    keys = ["dataset", "corruption", "modality", "target", "metric"]
    linear = bool((base.groupby(keys)["clean"].nunique() >= 2).all())
    return effective_robustness(scores, baseline, method="method", fit="linear" if linear else "paired",
                                keys=keys if linear else [*keys, "seed"])


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
