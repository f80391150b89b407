"""``polymodal bench``: run a grid, summarise it, write the results and the HTML report.

Layout of the output folder::

    out/
      bench.json        the resolved grid (what was asked)
      runs.csv          one row per run: every metric, cost, status and error (rewritten after each run)
      summary.csv/.md   mean and standard deviation per dataset and method
      artifacts/<key>/  per-run history, test predictions, 2-D embedding map (for the report)
      report.html       the self-contained report

The grid is checked whole before anything runs (:func:`polymodal.bench.check.check_grid`). Calling it
again with the same grid resumes: finished runs are kept, the rest run. Rows of ``runs.csv`` whose run is no
longer in the grid are stale: kept in the file, shown apart in the report, never counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from polymodal.bench.check import check_grid
from polymodal.bench.config import BenchConfig
from polymodal.bench.grid import run_grid
from polymodal.bench.report import write_report
from polymodal.bench.results import markdown_table, write_table
from polymodal.bench.run import run_inline, run_isolated, summarize
from polymodal.storage.atomic import atomic_write_json


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
    """Check the whole grid (nothing runs when a name or an option is wrong), then run (or resume) it into
    ``out``; return paths and the summary."""
    check_grid(config, config.source)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "bench.json", config.model_dump())
    artifacts = out / "artifacts"
    specs = config.specs(artifacts=artifacts)
    runner = run_isolated if config.isolate else run_inline
    recorded = run_grid(specs, out / "runs.csv", timeout=config.timeout, on_row=on_row, runner=runner)
    runs, stale = split_stale(recorded, [s.key() for s in specs])
    ok = runs[runs["status"] == "ok"] if "status" in runs else runs
    result: dict[str, Any] = {"runs": out / "runs.csv", "n_ok": len(ok), "n_failed": len(runs) - len(ok),
                              "n_stale": len(stale)}
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
            title=f"{config.name}: {dataset}", settings=run_settings(config, str(dataset), rows),
            stale=stale[stale["dataset"] == dataset] if "dataset" in stale else None))
    result.update(summary=summary, metric=metric, reports=reports, summary_md=out / "summary.md")
    return result


def split_stale(recorded: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of the runs in the grid (``keys``) and, apart, the stale rows ``runs.csv`` still holds from
    runs no longer in it (a method renamed, an option changed): kept in the file, never counted."""
    if not len(recorded) or "key" not in recorded:
        return recorded, recorded.iloc[0:0]
    current = recorded["key"].astype(str).isin(set(keys))
    return recorded[current].reset_index(drop=True), recorded[~current].reset_index(drop=True)


def run_settings(config: BenchConfig, dataset: str, runs: pd.DataFrame) -> list[tuple[str, str]]:
    """What the report says the runs of ``dataset`` were trained with: the grid's settings as given (and
    the defaults that apply where none is), per-method options, and the epochs the runs trained."""
    from polymodal.config import TrainConfig

    entry = next(d for d in config.datasets if d.name == dataset)
    options = {**config.common, **entry.options}

    def given(key: str, default: object) -> str:
        return _setting(options[key]) if key in options else f"{default} (default)"

    settings = [
        ("table", entry.table), ("target", ", ".join(entry.target)), ("seeds", ", ".join(map(str, config.seeds))),
        ("preset", given("preset", TrainConfig.model_fields["preset"].default)),
        ("epochs (at most)", given("epochs", "chosen by the preset" if options.get("preset", "medium") != "none"
                                   else TrainConfig.model_fields["epochs"].default)),
        ("split column", str(options.get("split_column") or "none: the test metrics are on validation rows")),
        ("ignored columns", ", ".join(map(str, options.get("ignore") or [])) or "none"),
    ]
    if "epochs_run" in runs and runs["epochs_run"].notna().any():
        epochs = runs["epochs_run"].dropna().astype(int)
        settings.append(("epochs trained", str(epochs.iloc[0]) if epochs.nunique() == 1
                         else f"{epochs.min()} to {epochs.max()}"))
    shown = {"preset", "epochs", "split_column", "ignore", "progress"}
    settings += [(key, _setting(value)) for key, value in options.items() if key not in shown]
    settings += [(f"method {m.name}", ", ".join(f"{k}={_setting(v)}" for k, v in m.options.items()) or "defaults")
                 for m in config.methods]
    if config.robustness is not None:
        r = config.robustness
        settings.append(("robustness", f"{', '.join(r.corruptions) or 'noise'} at levels "
                         f"{', '.join(f'{v:g}' for v in r.levels)}"))
    return settings


def _setting(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict | list) else str(value)


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
