"""Rows per second of `predict` with the local engine against Ray Data with a pool of 2 actors.

Data: polymodal's synthetic multimodal table (``make_synthetic_table``: a 32x32 PNG image file per
row, a short text, two numbers and a category; 3 classes), built here without any download:
``--rows`` rows (default 20,000) written as ``--shards`` Parquet shards (default 8) beside the image
folder (read by Ray through the glob ``shard-*.parquet``), and once more as one Parquet file for the
local engine. The model: ``polymodal.fit`` on the
first 600 rows (1 epoch, preset none: polymodal's default encoders: a small image CNN, a text
encoder, numeric and categorical inputs, concat fusion); the model's size does not matter much here,
loading and preprocessing the images is most of the work.

Measured (wall clock, ``time.perf_counter``), best of ``--repeats`` runs each:

- local: ``Predictor.predict`` of the single Parquet file in this process (torch on 1 thread);
- ray: ``predict_on_ray`` of the shards with ``workers=2`` (1 CPU and 1 torch thread per actor)
  on a local cluster ``ray.init(num_cpus=2)`` started once before the runs (its start-up is not
  counted); each run includes starting the 2 actors (each imports polymodal and loads the bundle),
  reading the shards, predicting, and writing the Parquet shards of predictions.

The Ray predictions are checked equal to the local ones (labels equal, probabilities within 1e-5).

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/ray_inference.py [--rows N] [--shards S] [--repeats R]

Writes ``benchmarks/results/ray_inference.md`` and ``.json`` (or ``--results FILE.md``).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import polymodal
from polymodal.datasets import make_synthetic_table
from polymodal.engine.ray_inference import predict_on_ray
from polymodal.storage.atomic import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "ray_inference.md"
KINDS = ("image", "text", "numeric", "categorical")
TRAIN_ROWS = 600


def build(folder: Path, rows: int, shards: int) -> tuple[str, Path, Path]:
    """The shards' glob, the single Parquet file (both beside images/) and a bundle trained on the first rows."""
    csv = make_synthetic_table(folder, n_rows=rows, kinds=KINDS)
    frame = pd.read_csv(csv)
    frame.insert(0, "id", np.arange(rows))
    single = folder / "all.parquet"
    frame.to_parquet(single, index=False)
    for i, part in enumerate(np.array_split(np.arange(rows), shards)):
        frame.iloc[part].to_parquet(folder / f"shard-{i:03d}.parquet", index=False)
    train = folder / "train.csv"
    frame.iloc[:TRAIN_ROWS].to_csv(train, index=False)
    bundle = folder / "model"
    polymodal.fit(train, target="label", ignore=["id"], epochs=1, preset="none", baseline=False, progress=False,
                  out=bundle)
    return str(folder / "shard-*.parquet"), single, bundle


def best_of(repeats: int, run: Any) -> tuple[float, list[float], Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    import ray

    with tempfile.TemporaryDirectory(prefix="polymodal-ray-bench-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        shards, single, bundle = build(folder, args.rows, args.shards)
        build_seconds = time.perf_counter() - start
        predictor = polymodal.load(bundle)
        local_best, local_times, local = best_of(args.repeats, lambda: predictor.predict(single))
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        try:
            out = folder / "predictions"
            ray_best, ray_times, result = best_of(
                args.repeats, lambda: predict_on_ray(bundle, shards, out, workers=args.workers, keep=["id"]))
            remote = pd.read_parquet(out).sort_values("row", ignore_index=True)
        finally:
            ray.shutdown()
    probabilities = [c for c in local.columns if c.startswith("label_proba_")]
    in_order = list(remote["id"]) == list(range(args.rows)) and list(remote["row"]) == list(range(args.rows))
    equal = bool(in_order and list(remote["label"]) == list(local["label"])
                 and np.allclose(remote[probabilities].to_numpy(), local[probabilities].to_numpy(), atol=1e-5))
    record = {
        "rows": args.rows, "shards": args.shards, "workers": args.workers, "repeats": args.repeats,
        "local_seconds": local_times, "ray_seconds": ray_times,
        "local_rows_per_second": args.rows / local_best, "ray_rows_per_second": args.rows / ray_best,
        "speedup": local_best / ray_best, "predictions_equal": equal, "build_seconds": build_seconds,
        "ray_output_shards": len(result.shards), "ray_version": ray.__version__, "torch": torch.__version__,
        "python": platform.python_version(), "cpus": os.cpu_count(), "load_average": os.getloadavg(),
    }
    write(args.results, record)


def write(path: Path, r: dict[str, Any]) -> None:
    lines = [
        "# predict: local engine against Ray Data (2 actors)",
        "",
        "Written by `benchmarks/ray_inference.py` (see its docstring for the method). "
        f"{r['rows']:,} rows of the synthetic multimodal table (a 32x32 PNG file per row, text, numbers, a category), "
        f"{r['shards']} Parquet shards; best of {r['repeats']} runs each; wall clock including reading the table "
        "and writing the predictions; Ray runs include starting the actors and loading the bundle in each "
        "(the local cluster itself, `ray.init(num_cpus=2)`, was started before).",
        "",
        "| engine | best seconds | rows/s | all runs (s) |",
        "|---|---:|---:|---|",
        f"| local (1 process, 1 torch thread) | {min(r['local_seconds']):.2f} | {r['local_rows_per_second']:,.0f} | "
        f"{', '.join(f'{t:.2f}' for t in r['local_seconds'])} |",
        f"| ray, {r['workers']} actors (1 CPU, 1 thread each) | {min(r['ray_seconds']):.2f} | "
        f"{r['ray_rows_per_second']:,.0f} | {', '.join(f'{t:.2f}' for t in r['ray_seconds'])} |",
        "",
        f"Speed-up of Ray over local: {r['speedup']:.2f}x. Ray's predictions equal the local ones: "
        f"{r['predictions_equal']} (labels equal, probabilities within 1e-5, matched by `row`).",
        "",
        f"Machine: {r['cpus']} CPU cores **shared with other jobs while this ran** (load average "
        f"{', '.join(f'{x:.1f}' for x in r['load_average'])} at the end): the figures are lower and noisier "
        "than on a quiet machine, and 2 actors on 2 busy cores cannot reach 2x. Ray "
        f"{r['ray_version']}, torch {r['torch']}, Python {r['python']}.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines))
    atomic_write_json(path.with_suffix(".json"), r)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
