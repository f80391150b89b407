"""Frozen embedding speed: polymodal's path against a plain batched ``torch.inference_mode()`` loop.

For each packaged backbone (``efficientnet-lite0`` on MNIST images, ``minilm`` on short texts,
``resemblyzer`` on FSDD clips; ``--items`` of each, 256 by default) two ways of computing the same
frozen embeddings are timed in one process, one torch thread, alternately, best of ``--repeats``:

- **polymodal**: what a user's ``polymodal.fit`` does before training, with the embedding cache
  turned off (so every item is computed): the table (a CSV of file paths, or of texts) read,
  its schema inferred, the pretrained preprocessing chosen for the column, the files loaded
  (``load_table``), the preprocessing fitted and applied (``DataPipeline.transform``), which embeds
  through :func:`polymodal.cache.embed.embed_with_cache` in batches of 32.
- **plain loop**: the same files, in batches of 32: decoded with Pillow / soundfile, prepared by the
  backbone's own ``prepare`` (its resize and normalisation, tokenizer, resampling), then
  ``backbone(x)`` under ``torch.inference_mode()``; nothing else.

Both use one backbone object, loaded before the timings. The embeddings of both paths are compared
(largest absolute difference). Run from the repository root::

    python benchmarks/embed_speed.py [--items N] [--repeats R] [--results FILE.md]

Writes ``benchmarks/results/embed_speed.md`` and ``.json`` (or ``--results``).
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
import pandas as pd
import soundfile as sf
import torch
from PIL import Image

from polymodal.data.pipeline import DataPipeline
from polymodal.data.schema import infer_schema
from polymodal.data.table import read_table
from polymodal.data.validation import load_table
from polymodal.encoders.pretrained import shared_backbone, with_pretrained_preprocessing
from polymodal.storage.atomic import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "embed_speed.md"
DATA = Path(os.environ.get("POLYMODAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
BATCH = 32
TARGET = 1.10
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "red", "green", "blue",
         "small", "large", "quiet", "loud", "fast", "slow", "bright", "dark", "handwritten", "spoken", "digit",
         "clip", "image", "sound", "review", "good", "bad", "great", "terrible", "fine")


def make_inputs(data: Path, work: Path, n: int) -> dict[str, list[Any]]:
    """``n`` MNIST PNG files, ``n`` FSDD WAV paths and ``n`` short texts (seeded), per backbone."""
    images = np.load(data / "mnist" / "mnist.npz")["x_test"][:n]
    folder = work / "images"
    folder.mkdir(parents=True)
    image_paths = []
    for i, pixels in enumerate(images):
        path = folder / f"{i:05d}.png"
        Image.fromarray(pixels).save(path)
        image_paths.append(path)
    clips = sorted((data / "fsdd" / "recordings").glob("*.wav"))[:n]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(5, 25)))) for _ in range(n)]
    return {"efficientnet-lite0": image_paths, "resemblyzer": clips, "minilm": texts}


def decode(kind: str, item: Any) -> Any:
    """What a plain loop reads: pixels with Pillow, samples with soundfile, the text itself."""
    if kind == "image":
        with Image.open(item) as image:
            return np.asarray(image)
    if kind == "audio":
        samples, rate = sf.read(str(item), dtype="float32")
        return samples, rate
    return item


def plain_loop(name: str, items: list[Any]) -> np.ndarray:
    backbone = shared_backbone(name)
    kind = backbone.kind.value
    parts = []
    with torch.inference_mode():
        for start in range(0, len(items), BATCH):
            cells = [decode(kind, item) for item in items[start:start + BATCH]]
            parts.append(backbone(backbone.prepare(cells)).float().numpy())
    return np.concatenate(parts)


def polymodal_path(name: str, table: Path) -> np.ndarray:
    """The embeddings ``polymodal.fit`` computes for the column ``x`` of ``table``, cache off."""
    tbl = read_table(table)
    schema = infer_schema(tbl.frame, [], {"x": "text"} if name == "minilm" else {})
    kinds = {m.name: m.kind for m in schema.modalities}
    preprocess = with_pretrained_preprocessing({"x": {"cache": False, "batch_size": BATCH}}, {"x": name}, {}, kinds)
    pipeline = DataPipeline(schema, preprocess)
    loaded = load_table(tbl, schema, require_targets=False, file_lookups=pipeline.file_lookups())
    pipeline.fit(loaded, np.arange(len(loaded.rows)))
    return pipeline.transform(loaded, with_targets=False).inputs["x"].numpy()


def best_of(repeats: int, runs: dict[str, Callable[[], np.ndarray]]) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Each function run ``repeats`` times, alternately (the first of each round alternating too); the fastest wall
    and CPU time of each, the median wall time, and each function's last output."""
    times: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    outputs: dict[str, np.ndarray] = {}
    for repeat in range(repeats):
        order = list(runs) if repeat % 2 == 0 else list(runs)[::-1]  # alternate which path goes first
        for key in order:
            run = runs[key]
            start, start_cpu = time.perf_counter(), time.process_time()
            outputs[key] = run()
            times[key].append(time.perf_counter() - start)
            cpu[key].append(time.process_time() - start_cpu)
    best = {k: min(v) for k, v in times.items()}
    best.update({f"{k}_cpu": min(v) for k, v in cpu.items()})
    best.update({f"{k}_median": float(np.median(v)) for k, v in times.items()})
    return best, outputs


def measure(name: str, items: list[Any], work: Path, repeats: int) -> dict[str, Any]:
    table = work / f"{name}.csv"
    pd.DataFrame({"x": [str(i) for i in items]}).to_csv(table, index=False)
    shared_backbone(name)  # loaded once, outside the timings
    best, outputs = best_of(repeats, {"plain": lambda: plain_loop(name, items),
                                      "polymodal": lambda: polymodal_path(name, table)})
    n = len(items)
    return {"items": n, "plain_s": best["plain"], "polymodal_s": best["polymodal"],
            "plain_items_per_s": n / best["plain"], "polymodal_items_per_s": n / best["polymodal"],
            "ratio": best["polymodal"] / best["plain"],
            "median_ratio": best["polymodal_median"] / best["plain_median"],
            "plain_cpu_s": best["plain_cpu"], "polymodal_cpu_s": best["polymodal_cpu"],
            "cpu_ratio": best["polymodal_cpu"] / best["plain_cpu"],
            "max_abs_diff": float(np.abs(outputs["plain"] - outputs["polymodal"]).max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding mnist/mnist.npz and fsdd/recordings")
    parser.add_argument("--backbone", action="append", help="only these backbones (default: all three)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="polymodal-embed-speed-"))
    inputs = make_inputs(args.data, work, args.items)
    names = args.backbone or list(inputs)
    rows = {name: measure(name, inputs[name], work, args.repeats) for name in names}
    result: dict[str, Any] = {
        "backbones": rows, "batch_size": BATCH, "repeats": args.repeats, "target_ratio": TARGET,
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "cpus": os.cpu_count(),
        "max_load_average": max(load, os.getloadavg()[0]), "platform": platform.platform(),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.results.with_suffix(".json"), result)
    atomic_write_text(args.results, report(result))
    print(report(result))


def report(r: dict[str, Any]) -> str:
    unit = {"efficientnet-lite0": "images/s", "minilm": "texts/s", "resemblyzer": "clips/s"}
    data = {"efficientnet-lite0": "MNIST test images (28 x 28 PNG files)", "minilm": "seeded texts of 5-24 words",
            "resemblyzer": "FSDD clips (8 kHz WAV files)"}
    lines = [
        "# Frozen embedding speed: polymodal against a plain `torch.inference_mode()` loop",
        "",
        f"Written by `benchmarks/embed_speed.py`: {r['torch_threads']} torch thread, batches of {r['batch_size']}, "
        f"best of {r['repeats']} alternating runs of each path (which goes first alternating too) in one process, "
        f"{r['cpus']} CPUs ({r['platform']}, "
        f"torch {r['torch']}).",
        "",
        "- **polymodal**: the path of `polymodal.fit` with the embedding cache off (every item computed): the "
        "CSV read, schema inferred, pretrained preprocessing chosen, files loaded (`load_table`), preprocessing "
        "fitted and applied (`DataPipeline.transform`, embedding through `embed_with_cache`).",
        "- **plain loop**: the same files decoded with Pillow / soundfile, prepared by the backbone's own "
        "`prepare`, `backbone(x)` under `torch.inference_mode()`; nothing else.",
        "",
        "| backbone | data | items | plain loop | polymodal | polymodal / plain (best wall) | median wall | best CPU "
        "time | max abs diff |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, v in r["backbones"].items():
        ok = "" if v["ratio"] <= r["target_ratio"] else " (**over target**)"
        lines.append(f"| `{name}` | {data[name]} | {v['items']} | {v['plain_items_per_s']:.1f} {unit[name]} | "
                     f"{v['polymodal_items_per_s']:.1f} {unit[name]} | **{v['ratio']:.3f}x**{ok} | "
                     f"{v['median_ratio']:.3f}x | {v['cpu_ratio']:.3f}x | {v['max_abs_diff']:.1e} |")
    lines += [
        "",
        "Items/s are from the best wall time of each path; the ratio columns compare the best wall times, the "
        "median wall times and the best CPU times (user + system of this process, less sensitive to other jobs "
        "on the machine) of the two paths.",
        "",
        "Where the time goes (cProfile of both paths, 64 to 256 items): the backbone's forward is over 97% of "
        "either path; polymodal's own work (reading the CSV, inferring the schema, hashing each file's bytes for "
        "its cache key, decoding, the checks of each cell) is about 2% for `efficientnet-lite0` and under 1% for "
        "the others. The one difference in the forward itself, `torch.no_grad()` where the plain loop has "
        "`torch.inference_mode()`, is gone: `Backbone.embed` now runs under `inference_mode`. Under a busy "
        "machine single runs vary by 20% or more either way, hence the best of alternating runs.",
        "",
        f"Target: polymodal within {r['target_ratio']:.2f}x of the plain loop for every backbone. The machine's "
        f"highest 1-minute load average during the run was {r['max_load_average']:.1f} (other jobs shared it; "
        "the ratios are taken within one process, runs alternating, so both paths saw the same load).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
