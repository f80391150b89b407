"""What the embedding cache buys: a fusion sweep with frozen pretrained encoders, cold and warm.

Data: AV-digits (MNIST image + FSDD spoken digit per row), image encoder ``efficientnet-lite0``
and audio encoder ``resemblyzer``, both frozen (``train="frozen"``). Measured, in one process:

1. one end-to-end run (``concat``) with the cache turned off: the reference cost of one run;
2. a sweep of 8 fusion methods with an empty cache (the embeddings are computed once, by the first
   run, and read back by the 7 others); target: at most 1.5x the single run;
3. the same sweep again (warm cache); target: at least 10x faster than the first sweep;

and whether the predictions of the uncached run equal those of the same run on a cold and on a warm
cache (they must: the cache stores the very numbers the backbone returned), plus the process's
peak resident memory after each phase. The backbones are loaded before the timings start (about a
second, paid once per process either way).

4. pretrained frozen encoders against the same concat model with polymodal's default from-scratch
   encoders (image CNN, spectrogram CNN), same epochs, over ``--seeds``: test accuracy on the
   held-out speaker and train time. The pretrained runs' time is the warm-cache time (embeddings
   computed once, by phase 1); the cost of computing them once is the cold run's.

Run from the repository root (the full table has 3,000 rows; ``--max-rows`` for a quick check)::

    python benchmarks/cache_speed.py [--max-rows N] [--epochs E] [--results FILE.md]

Writes ``benchmarks/results/cache_speed.md`` and ``.json`` (or ``--results``).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import polymodal
from polymodal.datasets.avdigits import build_avdigits
from polymodal.encoders.pretrained import shared_backbone
from polymodal.predictor import Predictor
from polymodal.storage.atomic import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "cache_speed.md"
DATA = Path(os.environ.get("POLYMODAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
FUSIONS = ["concat", "sum", "gated", "low_rank", "tensor", "transformer", "late", "late_weighted"]
ENCODERS = {"image": "efficientnet-lite0", "audio": "resemblyzer"}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fit(table: Path, fusion: str, epochs: int, cache: bool = True, pretrained: bool = True,
        seed: int = 0) -> tuple[float, Predictor]:
    """One end-to-end ``polymodal.fit`` (table read, loaded, encoded, trained) and its wall time."""
    start = time.perf_counter()
    options: dict[str, Any] = {"encoders": ENCODERS, "preprocess": {k: {"cache": cache} for k in ENCODERS}}
    predictor = polymodal.fit(table, "digit", fusion=fusion, split_column="split", ignore=["speaker"],
                              epochs=epochs, seed=seed, progress=False, **(options if pretrained else {}))
    return time.perf_counter() - start, predictor


def run(table: Path, fusion: str, epochs: int, cache: bool) -> tuple[float, np.ndarray]:
    seconds, predictor = fit(table, fusion, epochs, cache)
    return seconds, predictor.predict_proba(table)


def versus_scratch(table: Path, epochs: int, seeds: list[int]) -> dict[str, Any]:
    """Concat fusion, frozen pretrained encoders (warm cache) vs default encoders from scratch."""
    out: dict[str, Any] = {}
    for name, pretrained in (("pretrained_frozen", True), ("from_scratch", False)):
        runs = [fit(table, "concat", epochs, pretrained=pretrained, seed=seed) for seed in seeds]
        accuracy = [p.metrics["test"]["digit"]["accuracy"] for _, p in runs]
        out[name] = {"test_accuracy": accuracy, "accuracy_mean": float(np.mean(accuracy)),
                     "accuracy_std": float(np.std(accuracy)), "wall_seconds": [s for s, _ in runs],
                     "train_seconds": [p.metrics["train"]["train_seconds"] for _, p in runs],
                     "parameters": runs[0][1].metrics["parameters"]}
    return out


def sweep(table: Path, epochs: int) -> tuple[float, dict[str, float], np.ndarray]:
    times, probas = {}, {}
    for fusion in FUSIONS:
        times[fusion], probas[fusion] = run(table, fusion, epochs, cache=True)
    return sum(times.values()), times, probas[FUSIONS[0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-rows", type=int, help="subsample of the AV-digits table (quick check)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding mnist/mnist.npz and fsdd/recordings")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the pretrained vs "
                        "from-scratch comparison")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    load = os.getloadavg()[0]

    work = Path(tempfile.mkdtemp(prefix="polymodal-cache-speed-"))
    os.environ["POLYMODAL_CACHE"] = str(work / "cache")  # an empty cache of its own
    table = build_avdigits(args.data / "mnist" / "mnist.npz", args.data / "fsdd" / "recordings", work / "avdigits",
                           max_rows=args.max_rows)
    for name in ENCODERS.values():
        shared_backbone(name)  # loaded once per process, outside the timings

    single, proba_uncached = run(table, "concat", args.epochs, cache=False)
    rss_single = peak_rss_mib()
    cold, cold_times, proba_cold = sweep(table, args.epochs)
    rss_cold = peak_rss_mib()
    warm, warm_times, proba_warm = sweep(table, args.epochs)
    rss_warm = peak_rss_mib()
    scratch = versus_scratch(table, args.epochs, args.seeds)
    load = max(load, os.getloadavg()[0])

    result: dict[str, Any] = {
        "rows": len(table.read_text().splitlines()) - 1, "epochs": args.epochs, "fusions": FUSIONS,
        "single_uncached_s": single, "sweep_cold_s": cold, "sweep_warm_s": warm,
        "cold_over_single": cold / single, "cold_over_warm": cold / warm,
        "per_fusion_cold_s": cold_times, "per_fusion_warm_s": warm_times,
        "identical_uncached_cold": bool(np.array_equal(proba_uncached, proba_cold)),
        "identical_uncached_warm": bool(np.array_equal(proba_uncached, proba_warm)),
        "peak_rss_mib": {"after_single": rss_single, "after_cold_sweep": rss_cold, "after_warm_sweep": rss_warm},
        "versus_scratch": scratch, "seeds": args.seeds, "torch_threads": torch.get_num_threads(),
        "max_load_average": load, "cpus": os.cpu_count(), "platform": platform.platform(),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.results.with_suffix(".json"), result)
    atomic_write_text(args.results, report(result))
    print(report(result))


def report(r: dict[str, Any]) -> str:
    ok = lambda good: "yes" if good else "**no**"  # noqa: E731
    lines = [
        "# Embedding cache: a fusion sweep with frozen pretrained encoders",
        "",
        f"AV-digits, {r['rows']} rows, image `efficientnet-lite0` + audio `resemblyzer` (frozen), "
        f"{r['epochs']} epochs, {len(r['fusions'])} fusions, {r['cpus']} CPUs ({r['platform']}). "
        "Written by `benchmarks/cache_speed.py`.",
        "",
        "| phase | time (s) | peak RSS after (MiB) |",
        "|---|---:|---:|",
        f"| one run, no cache (concat) | {r['single_uncached_s']:.1f} | {r['peak_rss_mib']['after_single']:.0f} |",
        f"| sweep of {len(r['fusions'])} fusions, cold cache | {r['sweep_cold_s']:.1f} | "
        f"{r['peak_rss_mib']['after_cold_sweep']:.0f} |",
        f"| same sweep, warm cache | {r['sweep_warm_s']:.1f} | {r['peak_rss_mib']['after_warm_sweep']:.0f} |",
        "",
        f"Cold sweep / one run: **{r['cold_over_single']:.2f}x** (target at most 1.5x: "
        f"{ok(r['cold_over_single'] <= 1.5)}). Cold sweep / warm sweep: **{r['cold_over_warm']:.1f}x** "
        f"(target at least 10x: {ok(r['cold_over_warm'] >= 10)}).",
        "",
        f"Predictions identical without cache and with a cold cache: {ok(r['identical_uncached_cold'])}; "
        f"with a warm cache: {ok(r['identical_uncached_warm'])}.",
        "",
        "| fusion | cold (s) | warm (s) |",
        "|---|---:|---:|",
        *[f"| {f} | {r['per_fusion_cold_s'][f]:.1f} | {r['per_fusion_warm_s'][f]:.1f} |" for f in r["fusions"]],
        "",
        f"## Pretrained frozen encoders vs training from scratch (concat, {r['epochs']} epochs, "
        f"seeds {', '.join(map(str, r['seeds']))})",
        "",
        "Test accuracy on the held-out speaker. Pretrained: `efficientnet-lite0` + `resemblyzer`, frozen, "
        "embeddings read from the warm cache (computing them once is the cold run above). From scratch: "
        "polymodal's default image CNN and spectrogram CNN.",
        "",
        "| encoders | test accuracy | wall time per run (s) | of which training (s) | trainable parameters |",
        "|---|---:|---:|---:|---:|",
        *[f"| {label} | {v['accuracy_mean']:.4f} ± {v['accuracy_std']:.4f} | {np.mean(v['wall_seconds']):.1f} | "
          f"{np.mean(v['train_seconds']):.1f} | {v['parameters']:,} |"
          for label, v in (("pretrained, frozen", r["versus_scratch"]["pretrained_frozen"]),
                           ("from scratch", r["versus_scratch"]["from_scratch"]))],
        "",
        f"{r['torch_threads']} torch threads; the machine's highest 1-minute load average during the run was "
        f"{r['max_load_average']:.1f} (other jobs shared it; the ratios above are taken within one process).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
