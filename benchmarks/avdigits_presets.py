"""AV-digits with the presets: does ``polymodal fit`` with nothing but the target reach the fusion zoo's best?

Builds AV-digits from the shared data (speaker ``theo`` held out as the test split, as in
``benchmarks/fusion_zoo.py``) and runs, each in a fresh process, exactly the command a user would::

    polymodal fit avdigits.csv --target digit --split-column split --ignore speaker [--preset P] --out DIR

(``--split-column`` and ``--ignore`` only say which rows are the test split and that ``speaker`` describes
the row; no training option is given). ``medium`` is the default preset; ``fast`` and ``best`` are run
beside it. Every run also fits the classical baseline (logistic regression and gradient boosting on 8x8
pooled pixels and MFCC statistics of the same rows), which the results compare against. Run from the
repository root::

    python benchmarks/avdigits_presets.py [--data ../shared/data] [--presets fast medium best] [--threads 1]

Writes ``benchmarks/results/avdigits_presets.md`` and ``.json``; finished runs are kept in ``--work`` and
reused by a second call (delete the folder to rerun them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from avdigits import add_data_arguments, ensure_avdigits

from polymodal.bench.docs import write_benchmarks_doc
from polymodal.bench.results import markdown_table
from polymodal.storage.atomic import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
ZOO_BEST = 0.9713  # late_stacking, benchmarks/results/fusion_zoo.md (5 epochs, mean of 3 seeds)


def run_preset(table: Path, preset: str, work: Path, threads: int, extra: list[str]) -> dict[str, Any]:
    """One ``polymodal fit`` in a fresh process; its bundle's metrics and the command's wall time."""
    out = work / f"bundle-{preset}"
    record = work / f"run-{preset}.json"
    if record.exists():
        return dict(json.loads(record.read_text()))
    command = [sys.executable, "-m", "polymodal", "fit", str(table), "--target", "digit", "--split-column", "split",
               "--ignore", "speaker", "--preset", preset, "--out", str(out), "--force", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    commit, started = _commit(), time.strftime("%Y-%m-%d %H:%M")  # the code the run starts with
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"preset {preset} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    result = {"preset": preset, "command": " ".join(command[2:]), "wall_seconds": wall, "metrics": metrics,
              "printed": done.stdout, "commit": commit, "date": started}
    atomic_write_json(record, result)
    return result


def _commit() -> str:
    """The polymodal commit the run used (``+`` when the checkout had uncommitted changes)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+" if dirty else "")


def summary_row(run: dict[str, Any]) -> dict[str, Any]:
    m = run["metrics"]
    test = m["test"]["digit"]
    baselines = {name: r["test"]["digit"]["accuracy"] for name, r in m.get("baseline", {}).items()
                 if isinstance(r, dict) and "test" in r}
    best_name = max(baselines, key=lambda k: baselines[k]) if baselines else None
    members = m.get("ensemble", {}).get("members", [])
    return {
        "preset": run["preset"],
        "test accuracy": test["accuracy"],
        "test macro-F1": test["macro_f1"],
        "best baseline": f"{baselines[best_name]:.4f} ({best_name})" if best_name else "-",
        "vs baseline": test["accuracy"] - baselines[best_name] if best_name else float("nan"),
        "epochs": m["train"]["epochs_run"],
        "members": len(members) or 1,
        "train s": m["train"]["train_seconds"],
        "command s": run["wall_seconds"],
        "parameters": m["parameters"],
        "commit": run.get("commit", "unknown"),
        "run on": run.get("date", "-"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser, "polymodal-avdigits-presets", max_rows=False)
    parser.add_argument("--presets", nargs="+", default=["fast", "medium", "best"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run")
    parser.add_argument("--best-time-limit", type=float, default=1800.0,
                        help="--time-limit of the best preset's run (its members share it); 0: none")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more fit flags for every run")
    parser.add_argument("--out", type=Path, default=RESULTS / "avdigits_presets")
    args = parser.parse_args()

    table = ensure_avdigits(args.data, args.work)
    runs = []
    for preset in args.presets:
        print(f"running preset {preset} ...", flush=True)
        limit = ["--time-limit", str(args.best_time_limit)] if preset == "best" and args.best_time_limit else []
        runs.append(run_preset(table, preset, args.work, args.threads, [*args.extra, *limit]))
        row = summary_row(runs[-1])
        print(f"  test accuracy {row['test accuracy']:.4f}, {row['train s']:.0f} s of training", flush=True)
    rows = [summary_row(r) for r in runs]
    frame = pd.DataFrame(rows)
    shown = frame.assign(**{
        "test accuracy": [f"{v:.4f}" for v in frame["test accuracy"]],
        "test macro-F1": [f"{v:.4f}" for v in frame["test macro-F1"]],
        "vs baseline": [f"{v:+.4f}" for v in frame["vs baseline"]],
        "train s": [f"{v:.0f}" for v in frame["train s"]],
        "command s": [f"{v:.0f}" for v in frame["command s"]],
        "parameters": [f"{v:,}" for v in frame["parameters"]],
    })
    by_preset = {r["preset"]: r for r in rows}
    medium = by_preset.get("medium")
    verdict = []
    if medium is not None:
        verdict.append(
            f"`medium` (the default): {medium['test accuracy']:.4f} against the fusion zoo's best {ZOO_BEST:.4f} "
            f"({'reached' if medium['test accuracy'] >= ZOO_BEST else 'NOT reached'}) and {medium['vs baseline']:+.4f} "
            f"against the better classical baseline ({'beaten' if medium['vs baseline'] > 0 else 'NOT beaten'}).")
    chosen = {r["preset"]: r["metrics"].get("preset", {}).get("chosen", {}) for r in runs}
    ensembles = [
        f"`{r['preset']}`'s members: " + "; ".join(
            f"{m['fusion']} seed {m['seed']}: {m['epochs_run']} epochs in {m['train_seconds']:.0f} s"
            + (" (stopped at its share of the time limit)" if m["time_limit_reached"] else "")
            for m in r["metrics"]["ensemble"]["members"])
        + (f"; dropped for lack of time: {r['metrics']['ensemble']['dropped_for_time']}"
           if r["metrics"]["ensemble"]["dropped_for_time"] else "") + "."
        for r in runs if "ensemble" in r["metrics"]]
    commits = sorted({r.get("commit", "unknown") for r in runs})
    if len(commits) > 1:
        ensembles.append(f"The runs used different commits ({', '.join(commits)}, column *commit*): a run is "
                         "reused until its record in `--work` is deleted.")
    text = [
        "# AV-digits with the presets",
        "",
        f"Written by `benchmarks/avdigits_presets.py` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, CPU only).",
        "",
        f"Data: AV-digits built from `{args.data}`, {runs[0]['metrics']['sizes']['train']} training and "
        f"{runs[0]['metrics']['sizes']['val']} validation rows (a stratified split of the training speakers) and "
        f"{runs[0]['metrics']['sizes']['test']} test rows spoken by `theo`, a speaker never heard in training. Each "
        f"preset is one run of `polymodal fit ... --target digit --split-column split --ignore speaker --preset P` "
        f"in a fresh process with {args.threads} torch thread(s), seed 0; no other option. *train s* is the "
        "training loop (all members for `best`); *command s* the whole command: reading and preprocessing the "
        "table, training, the classical baseline, scoring and saving. The machine was shared with other jobs, "
        "so the seconds are comparable only roughly. *best baseline*: the better of logistic regression and "
        "gradient boosting on simple features of the same rows (`polymodal.evaluation.baseline`), on the same "
        "test rows.",
        "",
        markdown_table(shown),
        "",
        *verdict,
        "",
        *[line + "\n" for line in ensembles],
        "What each preset chose (saved in the bundle's `config.json`):",
        "",
        *[f"- `{p}`: `{json.dumps(c, sort_keys=True)}`" for p, c in chosen.items()],
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(text))
    atomic_write_json(args.out.with_suffix(".json"), json.loads(json.dumps(
        {"rows": rows, "zoo_best": ZOO_BEST, "threads": args.threads,
         "runs": [{k: v for k, v in r.items() if k != "printed"} for r in runs]}, default=float)))
    if args.out.parent == RESULTS:
        write_benchmarks_doc(RESULTS, RESULTS.parent.parent / "docs" / "benchmarks.md")
    print("\n".join(text))


if __name__ == "__main__":
    main()
