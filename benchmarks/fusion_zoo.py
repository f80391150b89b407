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

import pandas as pd
from avdigits import default_data, ensure_avdigits

from polymodal.bench.docs import write_benchmarks_doc
from polymodal.bench.grid import run_grid
from polymodal.bench.results import markdown_table
from polymodal.bench.run import RunSpec, summarize
from polymodal.engine.atomic import atomic_write_text
from polymodal.fusion import FUSIONS

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


def fusion_table(summary: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for fusion in FUSIONS.names():
        plain = summary[summary["method"] == fusion].iloc[0]
        md = summary[summary["method"] == f"{fusion} +md"].iloc[0]
        rows.append({
            "fusion": fusion,
            "accuracy": pm(plain["test_digit_accuracy_mean"], plain["test_digit_accuracy_std"]),
            "macro-F1": pm(plain["test_digit_macro_f1_mean"], plain["test_digit_macro_f1_std"]),
            "image missing": f"{plain['missing_image_digit_accuracy_mean']:.4f}",
            "audio missing": f"{plain['missing_audio_digit_accuracy_mean']:.4f}",
            "accuracy (md)": pm(md["test_digit_accuracy_mean"], md["test_digit_accuracy_std"]),
            "image missing (md)": f"{md['missing_image_digit_accuracy_mean']:.4f}",
            "audio missing (md)": f"{md['missing_audio_digit_accuracy_mean']:.4f}",
            "train s": f"{plain['train_seconds_mean']:.1f}",
            "parameters": f"{plain['parameters_mean']:,.0f}",
            "peak RSS MiB": f"{plain['peak_rss_mb_mean']:.0f}",
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
    args = parser.parse_args()

    start = time.perf_counter()
    table = ensure_avdigits(args.data, args.work, max_rows=args.max_rows)
    grid = specs(table, args.seeds, args.epochs)
    runs_file = args.out.with_name(args.out.name + "_runs.csv")

    def progress(row: dict[str, Any], done: int, total: int) -> None:
        acc = row.get("test_digit_accuracy", row.get("val_digit_accuracy", float("nan")))
        print(f"[{done}/{total}] seed {row['seed']} {row['method']:28s} {row['status']} digit accuracy {acc:.4f} "
              f"{row.get('train_seconds', float('nan')):.1f} s", flush=True)

    runs = run_grid(grid, runs_file, on_row=progress)
    failed = runs[runs["status"] != "ok"]
    summary = summarize(runs, ["method"])
    by_method = summary.set_index("method")
    singles = {m: by_method.loc[m, "test_digit_accuracy_mean"] for m in ("image only", "audio only")}
    best_single = max(singles.values())
    table_f = fusion_table(summary)
    fused = summary[summary["method"].isin(FUSIONS.names()) | summary["method"].str.endswith(" +md")]
    best = fused.sort_values("test_digit_accuracy_mean", ascending=False).iloc[0]

    single_rows = pd.DataFrame([{
        "method": m,
        "accuracy": pm(by_method.loc[m, "test_digit_accuracy_mean"], by_method.loc[m, "test_digit_accuracy_std"]),
        "macro-F1": pm(by_method.loc[m, "test_digit_macro_f1_mean"], by_method.loc[m, "test_digit_macro_f1_std"]),
        "train s": f"{by_method.loc[m, 'train_seconds_mean']:.1f}",
        "parameters": f"{by_method.loc[m, 'parameters_mean']:,.0f}"} for m in singles])
    mt_rows = []
    for sharing in ("hard", "soft", "cross-stitch"):
        r = by_method.loc[f"multi-task {sharing}"]
        mt_rows.append({
            "sharing": sharing,
            "digit accuracy": pm(r["val_digit_accuracy_mean"], r["val_digit_accuracy_std"]),
            "digit macro-F1": pm(r["val_digit_macro_f1_mean"], r["val_digit_macro_f1_std"]),
            "speaker accuracy": pm(r["val_speaker_accuracy_mean"], r["val_speaker_accuracy_std"]),
            "speaker macro-F1": pm(r["val_speaker_macro_f1_mean"], r["val_speaker_macro_f1_std"]),
            "train s": f"{r['train_seconds_mean']:.1f}", "parameters": f"{r['parameters_mean']:,.0f}",
        })
    n = int((runs["status"] == "ok").sum())
    text = [
        "# The fusion zoo on AV-digits",
        "",
        f"Written by `benchmarks/fusion_zoo.py` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"({platform.machine()}, {os.cpu_count()} CPU cores, CPU only); this call took "
        f"{time.perf_counter() - start:.0f} s; {n} finished runs, {len(failed)} failed.",
        "",
        f"AV-digits from `{args.data}`, speaker-disjoint test split (`theo`), {args.epochs} epochs, seeds "
        f"{args.seeds}, default encoders. Accuracy and macro-F1 on the test rows: mean ± standard deviation over "
        "seeds. *image missing* / *audio missing*: test accuracy with that modality removed from every test "
        "row (mean over seeds). *(md)*: the same fusion trained with modality dropout p = 0.3. Train seconds "
        "and peak RSS are for the run without dropout; timings are from a shared 2-core machine.",
        "",
        "## Single modalities",
        "",
        markdown_table(single_rows),
        "## Every fusion",
        "",
        markdown_table(table_f),
        f"Best fusion: **{best['method']}** at {best['test_digit_accuracy_mean']:.4f}; best single modality: "
        f"{best_single:.4f} ({max(singles, key=lambda k: singles[k])}). "
        f"The best fusion {'beats' if best['test_digit_accuracy_mean'] > best_single else 'does NOT beat'} "
        "the best single modality.",
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
