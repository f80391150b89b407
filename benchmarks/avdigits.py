"""AV-digits: does fusing the image and the spoken digit beat either modality alone?

Builds AV-digits from the shared data (MNIST images paired with Free Spoken Digit recordings of the
same digit; speaker ``theo`` is held out, so the test voices were never heard in training) and trains,
for each seed, with polymodal's defaults and the same epochs:

* image only (the audio column ignored), audio only (the image column ignored);
* concat fusion with the default modality dropout (0.25), without it, and with 0.3;
* late fusion (mean of per-modality probabilities).

Each run executes in a fresh process (``polymodal.bench.run.run_isolated``), so its peak resident
memory is its own. Run from the repository root::

    python benchmarks/avdigits.py [--data ../shared/data] [--seeds 0 1 2] [--epochs 8]

Writes ``benchmarks/results/avdigits.md`` (summary), ``avdigits_runs.csv`` (one row per run; a second
call resumes, reusing finished runs) and ``avdigits.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import pandas as pd

from polymodal.bench.docs import write_benchmarks_doc
from polymodal.bench.grid import run_grid
from polymodal.bench.results import markdown_table
from polymodal.bench.run import RunSpec, summarize
from polymodal.datasets.avdigits import build_avdigits
from polymodal.storage.atomic import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent

METHODS: list[tuple[str, dict[str, Any]]] = [
    ("image only", {"fusion": "concat", "ignore": ["speaker", "audio"]}),
    ("audio only", {"fusion": "concat", "ignore": ["speaker", "image"]}),
    ("concat (default: modality dropout 0.25)", {"fusion": "concat", "ignore": ["speaker"], "modality_dropout": 0.25}),
    ("concat, no modality dropout", {"fusion": "concat", "ignore": ["speaker"], "modality_dropout": 0.0}),
    ("concat + modality dropout 0.3", {"fusion": "concat", "ignore": ["speaker"], "modality_dropout": 0.3}),
    ("late (mean), modality dropout 0.25", {"fusion": "late", "ignore": ["speaker"], "modality_dropout": 0.25}),
]


def default_data() -> Path:
    return Path(os.environ.get("POLYMODAL_DATA", REPO.parent / "shared" / "data"))


def add_data_arguments(parser: argparse.ArgumentParser, work: str, max_rows: bool = True) -> None:
    """``--data`` (the shared data folder), ``--work`` (``$TMPDIR/<work>``: the built table and runs) and, with
    ``max_rows``, ``--max-rows`` (a subsample, for quick runs): the options every AV-digits script takes."""
    parser.add_argument("--data", type=Path, default=default_data(), help="the shared data folder")
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / work,
                        help="folder for the built table and the runs")
    if max_rows:
        parser.add_argument("--max-rows", type=int, help="subsample AV-digits (quick runs)")


def ensure_avdigits(data: Path, work: Path, max_rows: int | None = None) -> Path:
    """Build (or reuse) AV-digits from ``data`` into ``work`` and return the table's path."""
    mnist, fsdd = data / "mnist" / "mnist.npz", data / "fsdd" / "recordings"
    for path in (mnist, fsdd):
        if not path.exists():
            raise SystemExit(f"{path} not found: pass --data or set POLYMODAL_DATA to the shared data folder")
    if max_rows is not None:
        work = work.with_name(f"{work.name}-{max_rows}")
    return build_avdigits(mnist, fsdd, work, seed=0, max_rows=max_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser, "polymodal-avdigits", max_rows=False)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULTS / "avdigits")
    args = parser.parse_args()

    start = time.perf_counter()
    table = ensure_avdigits(args.data, args.work)
    specs = [RunSpec(method=method, dataset="avdigits", table=str(table), target=("digit",), seed=seed,
                     options={"split_column": "split", "epochs": args.epochs, **options})
             for seed in args.seeds for method, options in METHODS]

    def progress(row: dict[str, Any], done: int, total: int) -> None:
        acc = row.get("test_digit_accuracy", float("nan"))
        print(f"[{done}/{total}] seed {row['seed']} {row['method']:42s} test accuracy {acc:.4f} ({row['status']}) "
              f"{row.get('train_seconds', 0):.1f} s", flush=True)

    rows = run_grid(specs, args.out.with_name(args.out.name + "_runs.csv"), on_row=progress)
    runs = rows[rows["key"].isin({s.key() for s in specs})].reset_index(drop=True)
    metrics = ["test_digit_accuracy", "test_digit_macro_f1", "train_seconds", "samples_per_second",
               "peak_rss_mb", "parameters"]
    summary = summarize(runs, ["method"], metrics)

    table_md = pd.DataFrame({
        "method": summary["method"],
        "runs": summary["runs"],
        "test accuracy": [f"{m:.4f} ± {s:.4f}" for m, s in
                          zip(summary["test_digit_accuracy_mean"], summary["test_digit_accuracy_std"], strict=True)],
        "test macro-F1": [f"{m:.4f} ± {s:.4f}" for m, s in
                          zip(summary["test_digit_macro_f1_mean"], summary["test_digit_macro_f1_std"], strict=True)],
        "train s": [f"{v:.1f}" for v in summary["train_seconds_mean"]],
        "train samples/s": [f"{v:.0f}" for v in summary["samples_per_second_mean"]],
        "peak RSS MiB": [f"{v:.0f}" for v in summary["peak_rss_mb_mean"]],
        "parameters": [f"{v:,.0f}" for v in summary["parameters_mean"]],
    })
    acc = dict(zip(summary["method"], summary["test_digit_accuracy_mean"], strict=True))
    best_single = max(acc["image only"], acc["audio only"])
    verdict = {name: acc[name] > best_single for name in acc if name not in ("image only", "audio only")}
    first = runs.iloc[0]
    text = [
        "# AV-digits: fusion against each modality alone",
        "",
        f"Written by `benchmarks/avdigits.py` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, CPU only); "
        f"total {time.perf_counter() - start:.0f} s.",
        "",
        f"Data: AV-digits built from `{args.data}`: {int(first.get('n_train', 0))} training rows "
        f"(plus a stratified validation split), {int(first.get('n_test', 0))} test rows spoken by `theo`, "
        f"a speaker never heard in training. {args.epochs} epochs, seeds {args.seeds}, default encoders "
        "(image CNN, log-mel spectrogram CNN). Mean ± standard deviation over seeds. Peak RSS is the "
        "resident memory of the whole run's process (Python, PyTorch, data and model).",
        "",
        markdown_table(table_md),
        "",
        f"Best single modality: {best_single:.4f}. Beats it: "
        + ", ".join(f"{name} {'yes' if ok else 'no'} ({acc[name]:.4f})" for name, ok in verdict.items()) + ".",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(text))
    if args.out.parent == RESULTS:
        write_benchmarks_doc(RESULTS, RESULTS.parent.parent / "docs" / "benchmarks.md")
    atomic_write_json(args.out.with_suffix(".json"), json.loads(json.dumps({
        "summary": summary.to_dict(orient="records"), "runs": runs.to_dict(orient="records"),
        "epochs": args.epochs, "seeds": args.seeds, "best_single": best_single, "beats_best_single": verdict,
    }, default=float)))
    print("\n".join(text))


if __name__ == "__main__":
    main()
