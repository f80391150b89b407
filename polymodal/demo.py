"""``polymodal demo``: early, concat and late fusion and each single modality on the embedded default.

The embedded default is scikit-learn's digits made into a two-view problem with the noisy two-view
protocol of Wang et al. (2015): the ``rotated`` view and the ``noisy`` view (another digit of the
same class plus noise). Nothing is downloaded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polymodal.bench.results import write_table
from polymodal.datasets.digits import make_digits_two_view
from polymodal.output import Printer

RUNS: list[tuple[str, str, list[str]]] = [
    # (method, fusion, columns to leave out)
    ("early fusion", "early", []),
    ("concat fusion", "concat", []),
    ("late fusion", "late", []),
    ("rotated only", "concat", ["noisy"]),
    ("noisy only", "concat", ["rotated"]),
]


def demo_table(out: Path, seed: int) -> Path:
    """The digits two-view table with a seeded, stratified 20% test split column."""
    csv = make_digits_two_view(out / "data", seed=seed)
    frame = pd.read_csv(csv)
    rng = np.random.default_rng(seed)
    split = np.array(["train"] * len(frame), dtype=object)
    for label in np.unique(frame["digit"]):
        idx = np.flatnonzero(frame["digit"].to_numpy() == label)
        split[rng.choice(idx, size=max(1, len(idx) // 5), replace=False)] = "test"
    frame["split"] = split
    path = csv.parent / "demo_table.csv"
    write_table(frame, path)
    return path


BASELINES = (("logistic", "logistic regression"), ("gradient_boosting", "gradient boosting"))
BASELINE_OF = {"concat fusion": "both views", "rotated only": "rotated", "noisy only": "noisy"}


def run_demo(out: Path, epochs: int | None = None, seed: int = 0, printer: Printer | None = None,
             preset: str = "medium") -> pd.DataFrame:
    """Train every run of :data:`RUNS` with ``preset`` (``epochs`` caps training when given), print the
    comparison beside the classical baseline on the same inputs and rows, write results, bundles and the
    HTML report under ``out``; return the results table (baseline rows included)."""
    from polymodal.bench.report import write_report
    from polymodal.bench.run import RunSpec, run_inline, summarize
    printer = printer or Printer()
    start = time.perf_counter()
    out = Path(out)
    table = demo_table(out, seed)
    printer.line(f"embedded default: two-view digits ({table}), preset {preset}")
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    for method, fusion, drop in RUNS:
        slug = method.replace(" ", "-")
        options: dict[str, Any] = {"fusion": fusion, "ignore": drop, "split_column": "split", "preset": preset,
                                   "progress": False, "run_dir": str(out / "runs" / slug)}
        if epochs is not None:
            options["epochs"] = epochs
        spec = RunSpec(method=method, dataset="two-view digits", table=str(table), target=("digit",), seed=seed,
                       options=options, missing=("*",), save_to=str(out / "models" / slug),
                       artifacts=str(out / "artifacts"))
        row = run_inline(spec)
        if row["status"] != "ok":
            raise RuntimeError(f"demo run {method!r} failed: {row['error']}")
        runs.append(row)
        best = max(row.get(f"baseline_{m}_test_digit_accuracy", float("nan")) for m, _ in BASELINES)
        rows.append({"method": method, "accuracy": row["test_digit_accuracy"], "macro_f1": row["test_digit_macro_f1"],
                     "auroc": row["test_digit_auroc"], "vs_baseline": row["test_digit_accuracy"] - best,
                     "train_seconds": row["train_seconds"], "epochs": row["epochs_run"],
                     "parameters": row["parameters"]})
        printer.line(f"  {method}: accuracy {row['test_digit_accuracy']:.4f} ({row['train_seconds']:.1f} s, "
                     f"{row['epochs_run']} epochs); the best classical baseline on the same inputs {best:.4f}")
        if method in BASELINE_OF:
            rows += [{"method": f"baseline: {label} ({BASELINE_OF[method]})",
                      "accuracy": row[f"baseline_{m}_test_digit_accuracy"],
                      "macro_f1": row[f"baseline_{m}_test_digit_macro_f1"],
                      "auroc": row[f"baseline_{m}_test_digit_auroc"]} for m, label in BASELINES]
    results = pd.DataFrame(rows)
    write_table(results, out / "results.csv")
    write_table(results, out / "results.md")
    frame = pd.DataFrame(runs)
    write_table(frame, out / "runs.csv")
    report = write_report(
        out / "report.html", frame, summarize(frame, ["dataset", "method"]), metric="test_digit_accuracy",
        artifacts=out / "artifacts", title="polymodal demo: fusion on the two-view digits",
        notes=["scikit-learn's 8x8 digits as two views (Wang et al. 2015): the digit rotated by a random angle, "
               "and another digit of the same class with uniform noise; 20% of the rows held out for testing.",
               f"Preset {preset}. Classical baselines on the same inputs and rows (pixels, logistic regression and "
               "gradient boosting): " + "; ".join(
                   f"{r['method'].removeprefix('baseline: ')} {r['accuracy']:.4f}" for r in rows
                   if str(r["method"]).startswith("baseline: "))],
    )
    printer.table("test metrics on the two-view digits (20% held out)", rows,
                  ["method", "accuracy", "macro_f1", "auroc", "vs_baseline", "train_seconds", "parameters"])
    printer.line(f"results: {out / 'results.csv'}; models: {out / 'models'}; logs: {out / 'runs'}")
    printer.line("report: ", (str(report), "bold"))
    printer.line(f"demo finished in {time.perf_counter() - start:.1f} s")
    return results
