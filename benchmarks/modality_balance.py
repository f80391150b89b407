"""Modality imbalance on AV-digits: ``--balance ogm-ge`` and ``--balance gradient-blending`` against none.

AV-digits pairs an MNIST image with a spoken digit (FSDD) of the same class; the image is by far the
stronger modality, the case where one modality starves the other of gradient. For each seed and method
this trains polymodal's concat fusion with the default encoders (image CNN, log-mel spectrogram CNN,
``preset none``) for a fixed epoch budget (early stopping off: ``patience`` = epochs; the best validation
epoch is kept) on a seeded subsample of the table (``build_avdigits(max_rows=...)``: rows drawn at random,
the train/test split kept in proportion; test speaker ``theo``, never heard in training), and reports:

* test accuracy (mean ± standard deviation over seeds) and training seconds;
* the test accuracy of each modality's auxiliary head (the balanced methods train one per modality);
* the test accuracy of the fused model with the other modality masked out (each modality alone through the
  fused model; the fusion contract makes a missing modality well defined), for every method.

Run from the repository root (one torch thread)::

    OMP_NUM_THREADS=1 python benchmarks/modality_balance.py [--max-rows 1500] [--epochs 6] [--seeds 0 1 2]

Finished runs are kept in ``--work``/runs.json (a second call resumes). Writes
``benchmarks/results/modality_balance.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import polymodal
from polymodal.data.table import Table, read_table
from polymodal.storage.atomic import atomic_write_json, atomic_write_text

try:  # run as a script from the repository root, or imported by the tests
    from benchmarks.avdigits import add_data_arguments, ensure_avdigits
except ImportError:  # pragma: no cover
    from avdigits import add_data_arguments, ensure_avdigits  # type: ignore[no-redef]

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("none", "ogm-ge", "gradient-blending")


def one_run(table: Path, method: str, seed: int, epochs: int) -> dict[str, Any]:
    """Train one model and measure it."""
    start = time.perf_counter()
    predictor = polymodal.fit(str(table), "digit", fusion="concat", split_column="split", ignore=["speaker"],
                              preset="none", epochs=epochs, patience=epochs, seed=seed, balance=method,
                              baseline=False, progress=False)
    seconds = time.perf_counter() - start
    full = read_table(table)
    test = full.frame[full.frame["split"] == "test"].reset_index(drop=True)
    encoded = predictor.data.encode(Table(test, full.base_dir, full.source), with_targets=True)
    alone = {}
    for modality in encoded.masks:
        others = {m: torch.zeros_like(mask) for m, mask in encoded.masks.items() if m != modality}
        alone[modality] = predictor.evaluate_encoded(encoded.with_masks(others))["digit"]["accuracy"]
    metrics = predictor.metrics
    return {
        "method": method, "seed": seed, "epochs": epochs,
        "test_accuracy": metrics["test"]["digit"]["accuracy"],
        "val_accuracy": metrics["validation"]["digit"]["accuracy"],
        "train_seconds": metrics["train"]["train_seconds"], "run_seconds": seconds,
        "epochs_run": metrics["train"]["epochs_run"], "best_epoch": metrics["train"]["best_epoch"],
        "n_train": metrics["sizes"]["train"], "n_val": metrics["sizes"]["val"], "n_test": metrics["sizes"]["test"],
        "aux_test_accuracy": metrics.get("balance", {}).get("auxiliary_accuracy", {}).get("test", {}),
        "alone_test_accuracy": alone,
        "balance": {k: v for k, v in metrics.get("balance", {}).items() if k != "auxiliary_accuracy"},
    }


def _mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {std:.4f}"


def summarise(runs: list[dict[str, Any]], modalities: list[str]) -> list[dict[str, Any]]:
    rows = []
    for method in METHODS:
        mine = [r for r in runs if r["method"] == method]
        if not mine:
            continue
        row: dict[str, Any] = {"method": method, "runs": len(mine),
                               "test accuracy": _mean_std([r["test_accuracy"] for r in mine])}
        for m in modalities:
            row[f"aux head {m}"] = _mean_std([r["aux_test_accuracy"][m] for r in mine if m in r["aux_test_accuracy"]])
        for m in modalities:
            row[f"{m} alone"] = _mean_std([r["alone_test_accuracy"][m] for r in mine])
        row["train s"] = f"{statistics.mean(r['train_seconds'] for r in mine):.1f}"
        rows.append(row)
    return rows


def verdict(runs: list[dict[str, Any]]) -> str:
    """Each method's mean test-accuracy difference to no balancing, against the seeds' spread."""
    acc = {m: [r["test_accuracy"] for r in runs if r["method"] == m] for m in METHODS}
    if len(acc["none"]) < 2:
        return ""
    base, spread = statistics.mean(acc["none"]), statistics.stdev(acc["none"])
    parts = []
    for method in METHODS[1:]:
        if len(acc[method]) < 2:
            continue
        diff = statistics.mean(acc[method]) - base
        noise = max(spread, statistics.stdev(acc[method]))
        parts.append(f"{method} {diff:+.4f} ({'within' if abs(diff) <= noise else 'beyond'} one standard deviation "
                     f"of the seeds, {noise:.4f})")
    return ("Test accuracy against no balancing: " + "; ".join(parts) + f". With {len(acc['none'])} seeds a "
            "difference within one standard deviation is not evidence of a gain.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser, "polymodal-modality-balance", max_rows=False)
    parser.add_argument("--max-rows", type=int, default=1500, help="rows of the AV-digits subsample")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS / "modality_balance")
    args = parser.parse_args()
    torch.set_num_threads(1)

    table = ensure_avdigits(args.data, args.work, max_rows=args.max_rows)
    store = args.work / "runs.json"
    runs: list[dict[str, Any]] = json.loads(store.read_text()) if store.exists() else []
    for seed in args.seeds:
        for method in METHODS:
            if any(r["method"] == method and r["seed"] == seed and r["epochs"] == args.epochs for r in runs):
                continue
            run = one_run(table, method, seed, args.epochs)
            runs.append(run)
            atomic_write_json(store, runs)
            print(f"seed {seed} {method:18s} test accuracy {run['test_accuracy']:.4f} aux {run['aux_test_accuracy']} "
                  f"alone {run['alone_test_accuracy']} {run['train_seconds']:.0f} s", flush=True)
    runs = [r for r in runs if r["seed"] in args.seeds and r["epochs"] == args.epochs]
    modalities = sorted(runs[0]["alone_test_accuracy"])
    rows = summarise(runs, modalities)
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows]
    first = runs[0]
    text = [
        "# Modality imbalance on AV-digits: OGM-GE and gradient blending against no balancing",
        "",
        f"Written by `benchmarks/modality_balance.py` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, "
        f"CPU only, one torch thread); {sum(r['run_seconds'] for r in runs):.0f} s over the runs (each run's "
        "fit and scoring; finished runs are reused by a rerun).",
        "",
        f"Data: a seeded subsample of AV-digits ({args.max_rows} rows, `build_avdigits(max_rows=...)`, the "
        f"train/test split kept in proportion): {first['n_train']} training rows, {first['n_val']} validation "
        f"rows (stratified), {first['n_test']} test rows spoken by `theo`, never heard in training. "
        f"Concat fusion, default encoders (image CNN, log-mel spectrogram CNN), `preset none`, {args.epochs} "
        f"epochs for every run (early stopping off; the best validation epoch kept), seeds {args.seeds}; mean ± "
        "standard deviation over seeds.",
        "",
        "`aux head M`: test accuracy of modality M's linear auxiliary head (trained on detached features with "
        "ogm-ge, on the live features with gradient-blending; no balancing has none). `M alone`: test accuracy "
        "of the fused model with the other modality masked out. ogm-ge: alpha 0.5, with the GE noise; "
        "gradient-blending: weights re-estimated every 2 epochs on the validation split.",
        "",
        *lines,
        "",
        verdict(runs),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(text))
    atomic_write_json(args.out.with_suffix(".json"), json.loads(json.dumps({
        "summary": rows, "runs": runs, "epochs": args.epochs, "seeds": args.seeds, "max_rows": args.max_rows,
        "how": "polymodal.fit(table, 'digit', fusion='concat', split_column='split', ignore=['speaker'], "
               "preset='none', epochs=E, patience=E, seed=S, balance=METHOD); test rows scored by the returned "
               "predictor; modalities masked with EncodedData.with_masks",
    }, default=float)))
    print("\n".join(text))


if __name__ == "__main__":
    main()
