"""AV-digits: does ``polymodal tune`` (20 trials) find a config at least as good as the ``medium`` preset, and
does an interrupted study resume?

Builds AV-digits from the shared data (speaker ``theo`` held out as the test split, as the other AV-digits
benchmarks do), then:

1. ``medium``: ``polymodal fit TABLE --target digit --split-column split --ignore speaker`` (no other flag: the
   default preset), in its own process; its test accuracy and train time.
2. ``tune``: ``polymodal tune`` with the same flags plus ``--trials 20 --study DIR --time-limit S`` (and
   ``--epochs E`` when ``--epochs`` caps the trials; by default each trial trains on medium's schedule, with
   its early stopping, and the pruner stops the poor ones) in a subprocess that is killed (SIGKILL: the
   trial it was running is left as a kill leaves it) once ``--kill-after`` trials have finished; then the
   same command again, which resumes the study. The
   trials are counted in the study's SQLite storage after each phase.
3. The best trial's bundle (``DIR/best``) scored on the test rows (``metrics.json`` of the bundle: the test
   split of the same table), against ``medium``'s.
4. With ``--epochs E``, ``--refit-epochs N`` (default 100, medium's): the best trial's config trained again
   for up to N epochs (``fit --config DIR/best/config.json --epochs N``): capped trials are short, and this is
   their config on medium's schedule.

Run from the repository root::

    python benchmarks/avdigits_tune.py [--data ../shared/data] [--max-rows 800] [--trials 20] [--epochs 0]
        [--time-limit 3600] [--kill-after 3]

Writes ``benchmarks/results/avdigits_tune.md`` and ``avdigits_tune.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from avdigits import add_data_arguments, ensure_avdigits

from polymodal.storage.atomic import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
FLAGS = ["--target", "digit", "--split-column", "split", "--ignore", "speaker"]


def polymodal_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "polymodal.cli", *args]


def environment() -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return env


def run_fit(table: Path, out: Path, *extra: str) -> dict[str, Any]:
    """``polymodal fit TABLE FLAGS EXTRA`` in its own process; its metrics and wall time."""
    start = time.perf_counter()
    done = subprocess.run(polymodal_command("fit", str(table), *FLAGS, *extra, "--out", str(out), "--force",
                                            "--json"), capture_output=True, text=True, env=environment())
    if done.returncode != 0:
        raise SystemExit(f"fit {' '.join(extra)} failed:\n{done.stderr[-3000:]}")
    metrics = json.loads(done.stdout[done.stdout.index("{"):])
    return {"metrics": metrics, "wall_seconds": time.perf_counter() - start}


def study_counts(study_dir: Path) -> dict[str, int]:
    """Trials in the study's storage by state (``interrupted``: a trial a kill cut off)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = study_dir / "study.db"
    if not db.exists():
        return {}
    try:
        study = optuna.load_study(study_name="polymodal", storage=f"sqlite:///{db}")
    except KeyError:  # the study is not created yet
        return {}
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        state = "interrupted" if t.user_attrs.get("interrupted") else t.state.name.lower()
        counts[state] = counts.get(state, 0) + 1
    return counts


def finished(counts: dict[str, int]) -> int:
    return counts.get("complete", 0) + counts.get("pruned", 0) + counts.get("fail", 0)


def run_tune(table: Path, study_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Tune, kill after ``args.kill_after`` finished trials, count, rerun the same command, count again."""
    def command(budget: float) -> list[str]:
        return polymodal_command("tune", str(table), *FLAGS, "--trials", str(args.trials), "--study", str(study_dir),
                                 *(["--epochs", str(args.epochs)] if args.epochs else []),
                                 "--time-limit", f"{budget:.0f}")

    start = time.perf_counter()
    first = subprocess.Popen(command(args.time_limit), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=environment(), start_new_session=True)
    while first.poll() is None and finished(study_counts(study_dir)) < args.kill_after:
        time.sleep(2)
    killed = first.poll() is None
    if killed:
        os.killpg(first.pid, signal.SIGKILL)
    first_output = first.communicate()[0]
    first_seconds = time.perf_counter() - start
    at_kill = study_counts(study_dir)
    budget = max(args.time_limit - first_seconds, 60.0)
    second_start = time.perf_counter()
    second = subprocess.run(command(budget), capture_output=True, text=True, env=environment())
    second_seconds = time.perf_counter() - second_start
    if second.returncode != 0:
        raise SystemExit(f"the resumed tune failed:\n{second.stdout[-3000:]}\n{second.stderr[-3000:]}")
    return {"killed": killed, "first_seconds": first_seconds, "at_kill": at_kill, "first_output": first_output,
            "second_seconds": second_seconds, "second_budget": budget, "after_resume": study_counts(study_dir),
            "second_output": second.stdout, "command": " ".join(command(args.time_limit)[1:])}


def best_trial(study_dir: Path) -> dict[str, Any]:
    import optuna

    import polymodal

    study = optuna.load_study(study_name="polymodal", storage=f"sqlite:///{study_dir / 'study.db'}")
    best = study.best_trial
    bundle = polymodal.load(study_dir / "best")
    base = next(t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("base"))
    return {"number": best.number, "params": best.params, "validation": best.value,
            "bundle_metrics": bundle.metrics, "base_trial_validation": base.value, "base_trial_state": base.state.name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser, "polymodal-avdigits-tune")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=0,
                        help="epochs at most per trial, set in the base config too (0: medium's own schedule)")
    parser.add_argument("--time-limit", type=float, default=3600.0, help="seconds for the whole study (both runs)")
    parser.add_argument("--kill-after", type=int, default=3, help="finished trials before the first run is killed")
    parser.add_argument("--refit-epochs", type=int, default=100,
                        help="with --epochs: also train the best trial's config for this many epochs, as medium "
                             "may (0: not)")
    parser.add_argument("--out", type=Path, default=RESULTS / "avdigits_tune")
    args = parser.parse_args()

    start = time.perf_counter()
    table = ensure_avdigits(args.data, args.work, args.max_rows)
    work = args.work.with_name(f"{args.work.name}-{args.max_rows}") if args.max_rows else args.work
    study_dir = work / "study"
    if study_dir.exists():
        raise SystemExit(f"{study_dir} exists from an earlier run: remove it (the benchmark starts a fresh study)")
    print("medium ...", flush=True)
    medium = run_fit(table, work / "medium")
    print(f"medium: test accuracy {medium['metrics']['test']['digit']['accuracy']:.4f}", flush=True)
    print("tune ...", flush=True)
    tuned = run_tune(table, study_dir, args)
    best = best_trial(study_dir)
    refit = None
    if args.epochs and args.refit_epochs:
        print("refit ...", flush=True)  # the best trial's config, trained on medium's schedule
        refit = run_fit(table, work / "refit", "--config", str(study_dir / "best" / "config.json"),
                        "--epochs", str(args.refit_epochs))
    write_results(args, table, medium, tuned, best, refit, time.perf_counter() - start)


def write_results(args: argparse.Namespace, table: Path, medium: dict[str, Any], tuned: dict[str, Any],
                  best: dict[str, Any], refit: dict[str, Any] | None, total: float) -> None:
    m_metrics, b_metrics = medium["metrics"], best["bundle_metrics"]
    m_test, b_test = m_metrics["test"]["digit"]["accuracy"], b_metrics["test"]["digit"]["accuracy"]
    m_val, b_val = m_metrics["validation"]["digit"]["accuracy"], b_metrics["validation"]["digit"]["accuracy"]
    after, at_kill = tuned["after_resume"], tuned["at_kill"]
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items())
    rows = [
        "| run | validation accuracy | test accuracy | train s | epochs |",
        "|---|---|---|---|---|",
        f"| medium (`fit` with only --target) | {m_val:.4f} | {m_test:.4f} | {m_metrics['train']['train_seconds']:.0f} "
        f"| {m_metrics['train']['epochs_run']} |",
        f"| tune: best trial ({best['number']}) | {b_val:.4f} | {b_test:.4f} | "
        f"{b_metrics['train']['train_seconds']:.0f} | {b_metrics['train']['epochs_run']} |",
    ]
    r_test = None
    if refit is not None:
        r_metrics = refit["metrics"]
        r_test = r_metrics["test"]["digit"]["accuracy"]
        rows.append(f"| tune's best config refitted for up to {args.refit_epochs} epochs (`fit --config "
                    f"best/config.json --epochs {args.refit_epochs}`) | "
                    f"{r_metrics['validation']['digit']['accuracy']:.4f} | {r_test:.4f} | "
                    f"{r_metrics['train']['train_seconds']:.0f} | {r_metrics['train']['epochs_run']} |")
    verdict = "at least as good as" if b_test >= m_test else "worse than"
    text = [
        "# AV-digits: `polymodal tune` against the medium preset, and a killed study resumed",
        "",
        f"Written by `benchmarks/avdigits_tune.py` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores shared with other jobs, "
        f"CPU only, one torch thread); total {total:.0f} s.",
        "",
        f"Data: AV-digits from `{args.data}`"
        + (f", a subsample of {args.max_rows} rows" if args.max_rows else "")
        + f" ({m_metrics['sizes']['train']} training, {m_metrics['sizes']['val']} validation and "
        f"{m_metrics['sizes']['test']} test rows; the test rows are spoken by `theo`, a speaker never heard in "
        "training). Both runs choose on the same validation rows and are scored on the same test rows.",
        "",
        f"- medium: `polymodal fit TABLE {' '.join(FLAGS)}` (the default preset: up to 100 epochs, patience 15).",
        f"- tune: `polymodal {tuned['command'].split(' ', 2)[-1]}`: "
        + (f"each trial at most {args.epochs} epochs (so trial 0, the base config, is medium capped at "
           f"{args.epochs} epochs)" if args.epochs else "trial 0 is the base config, i.e. medium itself; every "
           "trial trains on medium's schedule (up to 100 epochs, early stopping with patience 15)")
        + ", the rest searched; median "
        "pruning (Optuna's MedianPruner in the Lightning loop). "
        f"The first run was killed (SIGKILL) after {finished(at_kill)} finished trial(s) "
        f"({tuned['first_seconds']:.0f} s; storage then: {at_kill}); the same command again ran "
        f"{tuned['second_seconds']:.0f} s with the budget left ({tuned['second_budget']:.0f} s).",
        "",
        *rows,
        "",
        f"Trials in the storage after the resume: {after} ({finished(after)} finished of --trials {args.trials}; "
        "`interrupted` is the trial the kill cut off, redone by the rerun and not counted).",
        f"Best trial {best['number']}: {params or 'the base config'}. Base config trial (0): validation "
        f"{best['base_trial_validation'] if best['base_trial_validation'] is not None else float('nan'):.4f} "
        f"({best['base_trial_state'].lower()}).",
        "",
        f"The tuned model's test accuracy ({b_test:.4f}) is {verdict} medium's ({m_test:.4f}): "
        f"{b_test - m_test:+.4f}"
        + ("" if r_test is None else f"; refitted on medium's schedule, its config reaches {r_test:.4f} "
           f"({r_test - m_test:+.4f})")
        + f". The report with the trial table and plots is `{args.work.name}"
        f"{'-' + str(args.max_rows) if args.max_rows else ''}/study/report.html`.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(text))
    atomic_write_json(args.out.with_suffix(".json"), json.loads(json.dumps({
        "table": str(table), "max_rows": args.max_rows, "trials": args.trials, "epochs_per_trial": args.epochs,
        "time_limit": args.time_limit, "kill_after": args.kill_after, "total_seconds": total,
        "medium": {"validation": m_val, "test": m_test, "wall_seconds": medium["wall_seconds"],
                   "train": m_metrics["train"], "preset": m_metrics.get("preset"),
                   "baseline": m_metrics.get("baseline")},
        "tune": {"best_trial": best["number"], "best_params": best["params"], "validation": b_val, "test": b_test,
                 "train": b_metrics["train"], "base_trial_validation": best["base_trial_validation"],
                 "at_kill": at_kill, "after_resume": after, "killed": tuned["killed"],
                 "first_seconds": tuned["first_seconds"], "second_seconds": tuned["second_seconds"],
                 "command": tuned["command"], "resumed_output": tuned["second_output"][-4000:]},
        "refit": None if refit is None else {"epochs": args.refit_epochs, "test": r_test,
                                             "validation": refit["metrics"]["validation"]["digit"]["accuracy"],
                                             "train": refit["metrics"]["train"]},
        "tune_at_least_medium": b_test >= m_test,
        "refit_at_least_medium": None if r_test is None else r_test >= m_test,
    }, default=str)))
    print("\n".join(text))


if __name__ == "__main__":
    main()
