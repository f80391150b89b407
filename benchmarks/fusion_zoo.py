"""Every registered fusion on AV-digits, 3 seeds; missing modalities; multi-task hard vs soft sharing.

For each fusion in ``polymodal.fusion.FUSIONS`` and each seed, two runs on AV-digits (speaker-disjoint
split: ``theo`` is never heard in training): without modality dropout (p = 0) and with it (p = 0.3). Every run is
scored on the test rows as they are, with the image removed from every test row, and with the audio
removed. Image-only and audio-only baselines come from the same grid. Then a multi-task run predicts
the digit and the speaker together with hard sharing (one trunk), soft sharing (a tower per target tied
by an L2 penalty) and cross-stitch units; speakers must be seen in training to be predicted, so these
runs use a random stratified validation split of all rows (the held-out speaker split cannot score a
speaker classifier) and report validation metrics.

Every run executes in a fresh process (peak memory is its own) through ``polymodal.bench.grid``: the
grid resumes where it stopped if the script is interrupted. Run from the repository root::

    python benchmarks/fusion_zoo.py [--data ../shared/data] [--seeds 0 1 2] [--epochs 5]

Writes ``benchmarks/results/fusion_zoo.md`` (the tables), ``fusion_zoo_runs.csv`` (one row per run).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from avdigits import default_data, ensure_avdigits

from polymodal.bench.docs import write_benchmarks_doc
from polymodal.bench.grid import read_runs, run_grid
from polymodal.bench.results import markdown_table
from polymodal.bench.run import RunSpec, summarize
from polymodal.fusion import FUSIONS
from polymodal.storage.atomic import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
# smaller than the defaults, so that 87 runs fit in well under an hour on 2 CPU cores
SMALL_ENCODERS = {"image": {"base_channels": 16, "output_dim": 64}, "audio": {"base_channels": 16, "output_dim": 64}}


def pm(mean: float, std: float) -> str:
    return f"{mean:.4f} ± {std:.4f}"


def specs(table: Path, seeds: list[int], epochs: int) -> list[RunSpec]:
    out: list[RunSpec] = []
    base = {"split_column": "split", "epochs": epochs, "ignore": ["speaker"], "encoder_args": SMALL_ENCODERS}
    for seed in seeds:
        for name, drop in (("image only", "audio"), ("audio only", "image")):
            out.append(RunSpec(method=name, dataset="avdigits", table=str(table), target=("digit",), seed=seed,
                               options={**base, "fusion": "concat", "ignore": ["speaker", drop]}))
        for fusion in FUSIONS.names():
            for p in (0.0, 0.3):
                options: dict[str, Any] = {**base, "fusion": fusion, "modality_dropout": p}
                out.append(RunSpec(method=fusion if not p else f"{fusion} +md", dataset="avdigits", table=str(table),
                                   target=("digit",), seed=seed, options=options, missing=("image", "audio")))
        for sharing in ("hard", "soft", "cross-stitch"):
            out.append(RunSpec(method=f"multi-task {sharing}", dataset="avdigits (random split)", table=str(table),
                               target=("digit", "speaker"), seed=seed,
                               options={"epochs": epochs, "ignore": ["split"], "fusion": "concat",
                                        "encoder_args": SMALL_ENCODERS,
                                        "sharing": sharing, "modality_dropout": 0.0}))
    return out


class Summary:
    """Mean ± std per method from whatever runs finished (a partly run grid gives partial tables)."""

    def __init__(self, runs: pd.DataFrame) -> None:
        ok = runs[runs["status"] == "ok"] if len(runs) else runs
        self.by_method = summarize(runs, ["method"]).set_index("method") if len(ok) else pd.DataFrame()

    def has(self, method: str) -> bool:
        return method in self.by_method.index

    def value(self, method: str, metric: str) -> float:
        if not self.has(method) or f"{metric}_mean" not in self.by_method:
            return float("nan")
        return float(self.by_method.loc[method, f"{metric}_mean"])

    def pm(self, method: str, metric: str) -> str:
        if not self.has(method) or f"{metric}_mean" not in self.by_method:
            return "not run"
        row = self.by_method.loc[method]
        return pm(row[f"{metric}_mean"], row[f"{metric}_std"])

    def fmt(self, method: str, metric: str, spec: str) -> str:
        value = self.value(method, metric)
        return "not run" if np.isnan(value) else format(value, spec)

    def runs(self, method: str) -> int:
        return int(self.by_method.loc[method, "runs"]) if self.has(method) else 0


def fusion_table(s: Summary) -> pd.DataFrame:
    rows = []
    for fusion in FUSIONS.names():
        md = f"{fusion} +md"
        rows.append({
            "fusion": fusion,
            "runs": f"{s.runs(fusion)} + {s.runs(md)}",
            "accuracy": s.pm(fusion, "test_digit_accuracy"),
            "macro-F1": s.pm(fusion, "test_digit_macro_f1"),
            "image missing": s.fmt(fusion, "missing_image_digit_accuracy", ".4f"),
            "audio missing": s.fmt(fusion, "missing_audio_digit_accuracy", ".4f"),
            "accuracy (md)": s.pm(md, "test_digit_accuracy"),
            "macro-F1 (md)": s.pm(md, "test_digit_macro_f1"),
            "image missing (md)": s.fmt(md, "missing_image_digit_accuracy", ".4f"),
            "audio missing (md)": s.fmt(md, "missing_audio_digit_accuracy", ".4f"),
            "train s": s.fmt(fusion, "train_seconds", ".1f"),
            "parameters": s.fmt(fusion, "parameters", ",.0f"),
            "peak RSS MiB": s.fmt(fusion, "peak_rss_mb", ".0f"),
        })
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "polymodal-avdigits")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "fusion_zoo")
    parser.add_argument("--max-rows", type=int, help="a smaller AV-digits, for a quick check of the script")
    parser.add_argument("--summarize-only", action="store_true",
                        help="write the tables from the runs finished so far, without running anything")
    args = parser.parse_args()

    start = time.perf_counter()
    table = ensure_avdigits(args.data, args.work, max_rows=args.max_rows)
    grid = specs(table, args.seeds, args.epochs)
    runs_file = args.out.with_name(args.out.name + "_runs.csv")

    def progress(row: dict[str, Any], done: int, total: int) -> None:
        acc = row.get("test_digit_accuracy", row.get("val_digit_accuracy", float("nan")))
        print(f"[{done}/{total}] seed {row['seed']} {row['method']:28s} {row['status']} digit accuracy {acc:.4f} "
              f"{row.get('train_seconds', float('nan')):.1f} s", flush=True)

    if args.summarize_only:
        recorded = read_runs(runs_file)
        runs = recorded[recorded["key"].isin({g.key() for g in grid})] if len(recorded) else recorded
    else:
        runs = run_grid(grid, runs_file, on_row=progress)
    if not len(runs):
        raise SystemExit(f"no finished runs in {runs_file} for this grid")
    failed = runs[runs["status"] != "ok"]
    s = Summary(runs)
    table_f = fusion_table(s)
    singles = {m: s.value(m, "test_digit_accuracy") for m in ("image only", "audio only")}
    best_single_name = max(singles, key=lambda k: -1.0 if np.isnan(singles[k]) else singles[k])
    best_single = singles[best_single_name]
    fused = {m: s.value(m, "test_digit_accuracy") for m in [*FUSIONS.names(), *(f"{f} +md" for f in FUSIONS.names())]
             if s.has(m)}
    best = max(fused, key=lambda k: fused[k]) if fused else None
    single_rows = pd.DataFrame([{
        "method": m, "runs": s.runs(m), "accuracy": s.pm(m, "test_digit_accuracy"),
        "macro-F1": s.pm(m, "test_digit_macro_f1"), "train s": s.fmt(m, "train_seconds", ".1f"),
        "parameters": s.fmt(m, "parameters", ",.0f")} for m in singles])
    mt_rows = []
    for sharing in ("hard", "soft", "cross-stitch"):
        m = f"multi-task {sharing}"
        mt_rows.append({
            "sharing": sharing, "runs": s.runs(m),
            "digit accuracy": s.pm(m, "val_digit_accuracy"), "digit macro-F1": s.pm(m, "val_digit_macro_f1"),
            "speaker accuracy": s.pm(m, "val_speaker_accuracy"), "speaker macro-F1": s.pm(m, "val_speaker_macro_f1"),
            "train s": s.fmt(m, "train_seconds", ".1f"), "parameters": s.fmt(m, "parameters", ",.0f"),
        })
    verdict = "no fusion has finished yet" if best is None else (
        f"Best fusion: **{best}** at {fused[best]:.4f}; best single modality: {best_single:.4f} ({best_single_name}). "
        f"The best fusion {'beats' if fused[best] > best_single else 'does NOT beat'} the best single modality.")
    n = int((runs["status"] == "ok").sum())
    text = [
        "# The fusion zoo on AV-digits",
        "",
        f"Written by `benchmarks/fusion_zoo.py` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"({platform.machine()}, {os.cpu_count()} CPU cores, CPU only); "
        + ("tables rebuilt from the runs recorded in `fusion_zoo_runs.csv`" if args.summarize_only else
           f"this call took {time.perf_counter() - start:.0f} s")
        + f"; {n} finished runs, {len(failed)} failed. The grid ran 87 runs, each in its own process, "
          "in about 70 minutes.",
        "",
        f"AV-digits from `{args.data}`, speaker-disjoint test split (`theo`), {args.epochs} epochs, seeds "
        f"{args.seeds}, small encoders ({SMALL_ENCODERS}). Accuracy and macro-F1 on the test rows: mean ± "
        "standard deviation over seeds (*runs*: finished runs without + with modality dropout). *image missing* / "
        "*audio missing*: test accuracy with that modality removed from every test row (mean over seeds). The "
        "plain columns are trained without modality dropout (p = 0), the *(md)* columns with p = 0.3. Train "
        "seconds and peak RSS (of the run's whole process) are for the run without dropout; the machine was "
        "shared with other jobs while this ran, one torch thread per run, so timings are comparable with each "
        "other only roughly.",
        "",
        "## Single modalities",
        "",
        markdown_table(single_rows),
        "## Every fusion",
        "",
        markdown_table(table_f),
        verdict,
        "",
        "## Multi-task: digit and speaker, hard against soft sharing",
        "",
        "Concat fusion, both targets in one model; validation metrics on a random stratified 20% of all rows "
        "(every speaker is seen in training).",
        "",
        markdown_table(pd.DataFrame(mt_rows)),
    ]
    if len(failed):
        text += ["## Failed runs", "", markdown_table(failed[["method", "seed", "error"]])]
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(text))
    if args.out.parent == RESULTS:
        write_benchmarks_doc(RESULTS, RESULTS.parent.parent / "docs" / "benchmarks.md")
    print("\n".join(text))


if __name__ == "__main__":
    main()
