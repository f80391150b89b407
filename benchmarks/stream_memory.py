"""Streaming memory: does the peak memory of a streamed fit stay flat as the table grows?

Writes synthetic Parquet tables (numeric, categorical, vector and short-text columns; a binary target
that depends on all of them) chunk by chunk with pyarrow, so even the largest table is never built in
memory, then runs a streamed ``polymodal.fit`` (``stream=True``, 1 epoch) on each in a fresh process
with ``OMP_NUM_THREADS=1``. The child reports its own peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``). The target (issue 17, tightened from issue 8's 1.3): the
largest table's peak is at most 1.1 times the smallest's. Run from the repository root::

    python benchmarks/stream_memory.py [--rows 100000 1000000] [--chunk-rows 10000] [--batch-size 128]

Writes ``benchmarks/results/stream_memory.md`` and ``stream_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.1
WORDS = np.array(["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta", "good", "bad"])


def write_table(path: Path, rows: int, chunk: int = 20000, row_group: int = 10000, seed: int = 0) -> None:
    """A synthetic table of ``rows`` rows, written ``chunk`` rows at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer: Any = None
    try:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            x = rng.normal(size=(n, 2))
            colour = rng.choice(["red", "green", "blue", "grey", "pink"], size=n)
            emb = rng.normal(size=(n, 8)).astype(np.float32)
            words = rng.choice(WORDS, size=(n, 4))
            score = x[:, 0] - 0.5 * x[:, 1] + (colour == "red") + emb[:, 0] + (words == "good").any(axis=1)
            batch = pa.table({
                "x1": x[:, 0], "x2": x[:, 1], "colour": colour,
                "emb": pa.FixedSizeListArray.from_arrays(emb.ravel(), 8).cast(pa.list_(pa.float32())),
                "note": [" ".join(w) for w in words],
                "y": np.where(score + rng.normal(scale=0.5, size=n) > 0.8, "yes", "no"),
            })
            if writer is None:
                writer = pq.ParquetWriter(path, batch.schema)
            writer.write_table(batch, row_group_size=row_group)
    finally:
        if writer is not None:
            writer.close()


def child(path: str, chunk_rows: int, batch_size: int, fit_sample_rows: int) -> dict[str, Any]:
    """The measured run: a streamed fit, one epoch."""
    import polymodal
    import polymodal.engine.fit  # polymodal imports lazily: torch, Lightning and torchmetrics load here

    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    predictor = polymodal.fit(path, "y", stream=True, chunk_rows=chunk_rows, fit_sample_rows=fit_sample_rows,
                              epochs=1, batch_size=batch_size, progress=False)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {"peak_rss_mb": peak_kb / 1024, "rss_after_imports_mb": base_kb / 1024,
            "seconds": time.perf_counter() - start, "accuracy": predictor.metrics["validation"]["y"]["accuracy"],
            "train_rows": predictor.metrics["sizes"]["train"], "val_rows": predictor.metrics["sizes"]["val"]}


def run_child(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, __file__, "--child", str(path), "--chunk-rows", str(args.chunk_rows),
               "--batch-size", str(args.batch_size), "--fit-sample-rows", str(args.fit_sample_rows)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the streamed fit on {path} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    small, large = runs[0], runs[-1]
    ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    def above(run: dict[str, Any]) -> float:
        return float(run["peak_rss_mb"] - run["rss_after_imports_mb"])

    return {"runs": runs, "peak_ratio": ratio, "peak_above_imports_ratio": above(large) / above(small),
            "target_ratio": TARGET_RATIO, "meets_target": ratio <= TARGET_RATIO,
            "chunk_rows": args.chunk_rows, "batch_size": args.batch_size, "fit_sample_rows": args.fit_sample_rows,
            "epochs": 1, "machine": {"platform": platform.platform(), "python": platform.python_version(),
                                     "cpus": os.cpu_count()}}


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Streaming memory", "",
             "Streamed `polymodal.fit` (`stream=True`, 1 epoch) on synthetic Parquet tables (numeric, categorical, "
             "vector and short-text columns), each in a fresh process with `OMP_NUM_THREADS=1`. Peak RSS is the "
             "child's `ru_maxrss`; the RSS after imports is read once `polymodal.engine.fit` (torch, Lightning, "
             "torchmetrics) is imported. Written by `benchmarks/stream_memory.py`.", "",
             f"chunk_rows={result['chunk_rows']}, batch_size={result['batch_size']}, "
             f"fit_sample_rows={result['fit_sample_rows']}", "",
             "| rows | peak RSS (MB) | RSS after imports (MB) | seconds | train rows | val rows | val accuracy |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for run in result["runs"]:
        lines.append(f"| {run['rows']:,} | {run['peak_rss_mb']:.0f} | {run['rss_after_imports_mb']:.0f} | "
                     f"{run['seconds']:.0f} | {run['train_rows']:,} | {run['val_rows']:,} | {run['accuracy']:.3f} |")
    verdict = "meets" if result["meets_target"] else "misses"
    lines += ["", f"Peak ratio (largest / smallest table): **{result['peak_ratio']:.2f}** "
                  f"({verdict} the target of at most {result['target_ratio']}); peak above the RSS after "
                  "importing polymodal's engine (torch, Lightning, torchmetrics): "
                  f"ratio {result['peak_above_imports_ratio']:.2f}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunk-rows", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--fit-sample-rows", type=int, default=20000)
    parser.add_argument("--workdir", type=Path, default=None, help="where the tables go (default: a temp folder)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.chunk_rows, args.batch_size, args.fit_sample_rows)))
        return
    from polymodal.storage.atomic import atomic_write_json, atomic_write_text

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        runs = []
        for rows in sorted(args.rows):
            path = Path(tmp) / f"stream_{rows}.parquet"
            write_table(path, rows)
            run = {"rows": rows, "file_mb": path.stat().st_size / 2**20, **run_child(path, args)}
            print(json.dumps(run), flush=True)
            runs.append(run)
            path.unlink()
    result = report(runs, args)
    RESULTS.mkdir(exist_ok=True)
    atomic_write_json(RESULTS / "stream_memory.json", result)
    atomic_write_text(RESULTS / "stream_memory.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
