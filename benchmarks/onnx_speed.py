"""CPU prediction speed of torch and onnxruntime on the demo-size models, side by side in one process.

The models are those of ``polymodal demo`` (the two-view digits, 1,797 rows, the medium preset's encoders):
early, concat and late fusion, trained for ``--epochs`` (prediction cost does not depend on the epochs).
Each is exported with ``polymodal.export_onnx`` (checked against torch by the export itself), then, with one
thread for both runtimes (``torch.set_num_threads(1)``, onnxruntime ``intra_op_num_threads=1``):

1. model only: rows/s of ``Predictor.logits`` (torch, no grad, eval mode) and of ``OnnxRunner.logits``
   (onnxruntime) on the already preprocessed tensors of every row, batches of 256 (predict's batch size);
2. end to end: rows/s of ``Predictor.predict`` and of ``predict_onnx`` from the CSV file (reading, loading
   the PNG files, preprocessing, model, decoding): what ``polymodal predict --runtime torch|onnx`` costs.

Each figure is the best of ``--repeats`` timed passes after one untimed warm-up pass (the best, not the mean:
the least disturbed by other processes on a shared machine). The largest difference of probabilities between
the two runtimes on all rows is reported beside.

Run from the repository root::

    python benchmarks/onnx_speed.py [--epochs 2] [--repeats 5]

Writes ``benchmarks/results/onnx_speed.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import polymodal
from polymodal.demo import demo_table
from polymodal.serving.onnx_runtime import OnnxRunner, predict_onnx
from polymodal.storage.atomic import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "onnx_speed.md"
FUSIONS = ["early", "concat", "late"]


def best_seconds(work: Callable[[], Any], repeats: int) -> float:
    work()  # warm-up: first-call allocations, onnxruntime's lazy initialisation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(fusion: str, table: Path, work: Path, epochs: int, repeats: int) -> dict[str, Any]:
    predictor = polymodal.fit(table, "digit", fusion=fusion, split_column="split", epochs=epochs, progress=False,
                              baseline=False, seed=0)
    exported = polymodal.export_onnx(predictor, work / f"{fusion}.onnx", check_table=table)
    runner = OnnxRunner(exported.path, predictor, threads=1)
    data = predictor.pipeline.transform(predictor.load_cells(table, with_targets=False), with_targets=False)
    rows = len(data)
    torch_model = best_seconds(lambda: predictor.logits(data), repeats)
    onnx_model = best_seconds(lambda: runner.logits(data), repeats)
    torch_e2e = best_seconds(lambda: predictor.predict(table), repeats)
    onnx_e2e = best_seconds(lambda: predict_onnx(predictor, table, exported.path, threads=1), repeats)
    a, b = predictor.predict(table), predict_onnx(predictor, table, exported.path, threads=1)
    proba = [c for c in a.columns if "_proba_" in c]
    return {
        "fusion": fusion, "rows": rows, "parameters": int(sum(p.numel() for p in predictor.model.parameters())),
        "onnx_bytes": exported.path.stat().st_size, "export_check": exported.differences,
        "model_rows_per_s": {"torch": rows / torch_model, "onnxruntime": rows / onnx_model},
        "end_to_end_rows_per_s": {"torch": rows / torch_e2e, "onnxruntime": rows / onnx_e2e},
        "max_abs_diff_probabilities": float(np.abs(a[proba].to_numpy() - b[proba].to_numpy()).max()),
        "same_labels": bool((a["digit"] == b["digit"]).all()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="polymodal-onnx-speed-"))
    table = demo_table(work, seed=0)
    runs = [measure(fusion, table, work, args.epochs, args.repeats) for fusion in FUSIONS]
    import onnxruntime

    result = {"runs": runs, "epochs": args.epochs, "repeats": args.repeats, "threads": 1,
              "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
              "max_load_average": max(load, os.getloadavg()[0]), "cpus": os.cpu_count(),
              "platform": platform.platform()}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.results.with_suffix(".json"), result)
    atomic_write_text(args.results, report(result))
    print(report(result))


def report(r: dict[str, Any]) -> str:
    lines = [
        "# ONNX export: CPU prediction speed, torch against onnxruntime",
        "",
        f"The `polymodal demo` models (two-view digits, {r['runs'][0]['rows']} rows, medium preset encoders, "
        f"{r['epochs']} training epochs), one thread for both runtimes (torch {r['torch']}, onnxruntime "
        f"{r['onnxruntime']}), best of {r['repeats']} passes after a warm-up; {r['cpus']} CPUs shared with other "
        f"jobs (largest load average seen {r['max_load_average']:.1f}), {r['platform']}. "
        "Written by `benchmarks/onnx_speed.py`.",
        "",
        "Model only: the preprocessed tensors of every row through the model, batches of 256. End to end: "
        "`predict` from the CSV (reading and preprocessing the PNG files included), as `polymodal predict "
        "--runtime torch|onnx` runs it.",
        "",
        "| fusion | parameters | model rows/s torch | model rows/s onnxruntime | speed-up | end-to-end rows/s torch "
        "| end-to-end rows/s onnxruntime | max abs diff of probabilities | same labels |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in r["runs"]:
        model, e2e = run["model_rows_per_s"], run["end_to_end_rows_per_s"]
        lines.append(f"| {run['fusion']} | {run['parameters']:,} | {model['torch']:,.0f} | {model['onnxruntime']:,.0f} "
                     f"| {model['onnxruntime'] / model['torch']:.2f}x | {e2e['torch']:,.0f} | "
                     f"{e2e['onnxruntime']:,.0f} | {run['max_abs_diff_probabilities']:.1e} | "
                     f"{'yes' if run['same_labels'] else '**no**'} |")
    lines += ["", "The export itself checks the graph against torch on a synthetic batch and on the table's rows "
              "(largest difference of probabilities below 1e-4, else it fails)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
