"""One benchmark run: fit a configuration on a table, evaluate it, measure what it cost.

A run is described by a :class:`RunSpec` (method, dataset, seed and the :func:`polymodal.fit` options)
and produces one flat row: every test metric (``test_<target>_<metric>``), the same metrics with each
modality of ``missing`` removed from every test row (``missing_<modality>_<target>_<metric>``), and the
cost: train seconds, training throughput, parameters and peak memory. :func:`run_isolated` executes a
run in a fresh process, so that its peak memory is its own and a crash cannot take the caller down: a
failed run comes back as a row with ``status="error"`` and the error message.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import resource
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polymodal.bench.report import EXPLAIN_JSON
from polymodal.bench.results import write_table
from polymodal.data.splits import split_by_column
from polymodal.data.table import Table, read_table
from polymodal.errors import PolymodalError
from polymodal.evaluation.robustness import missing_modality_scores, robustness_scores


@dataclass(frozen=True)
class RunSpec:
    """What to train and evaluate: ``options`` are :func:`polymodal.fit` keyword arguments."""

    method: str
    dataset: str
    table: str
    target: tuple[str, ...]
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    missing: tuple[str, ...] = ()  # modalities removed from the test rows one at a time; ("*",): every subset
    save_to: str | None = None
    artifacts: str | None = None
    robustness: dict[str, Any] | None = None  # {"corruptions": [...], "levels": [...], "modalities": [...] | None}

    def key(self) -> str:
        """A stable identity of the run (method, dataset, seed and everything that changes the result)."""
        payload = {k: v for k, v in asdict(self).items() if k not in ("save_to", "artifacts")}
        if payload["robustness"] is None:  # keys of runs recorded before robustness existed stay valid
            del payload["robustness"]
        blob = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def flatten_metrics(prefix: str, metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """``{"digit": {"accuracy": 0.9}}`` -> ``{"<prefix>_digit_accuracy": 0.9}``."""
    return {f"{prefix}_{target}_{name}": float(value)
            for target, values in metrics.items() for name, value in values.items()}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def held_out_table(spec: RunSpec) -> Table | None:
    """The rows of the run's table marked ``test`` by its split column (None without a split column)."""
    split_column = spec.options.get("split_column")
    if not split_column:
        return None
    table = read_table(spec.table)
    _, test = split_by_column(table.frame, split_column)
    return Table(table.frame.iloc[test].reset_index(drop=True), table.base_dir, table.source)


def execute(spec: RunSpec) -> dict[str, Any]:
    """Fit and evaluate ``spec`` in this process; return its row (without the memory figure)."""
    import polymodal

    start = time.perf_counter()
    options = {"progress": False, **spec.options, "seed": spec.seed}
    predictor = polymodal.fit(spec.table, target=list(spec.target), out=spec.save_to, **options)
    metrics = predictor.metrics
    row: dict[str, Any] = {
        "train_seconds": metrics["train"]["train_seconds"],
        "samples_per_second": metrics["train"]["samples_per_second"],
        "epochs_run": metrics["train"]["epochs_run"],
        "parameters": metrics["parameters"],
        "n_train": metrics["sizes"]["train"],
        "n_test": metrics["sizes"]["test"],
    }
    row.update(flatten_metrics("val", metrics["validation"]))
    if "test" in metrics:
        row.update(flatten_metrics("test", metrics["test"]))
    for model, scores in metrics.get("baseline", {}).items():  # the classical baseline on the same rows
        for split, prefix in (("validation", "val"), ("test", "test")):
            if split in scores:
                row.update(flatten_metrics(f"baseline_{model}_{prefix}", scores[split]))
    test = held_out_table(spec) if spec.missing or spec.artifacts or spec.robustness else None
    if spec.artifacts:
        write_artifacts(predictor, test, Path(spec.artifacts) / spec.key())
    want_missing = bool(spec.missing) and len(predictor.pipeline.schema.modalities) > 1
    cells = predictor.load_cells(test) if test is not None and (want_missing or spec.robustness) else None
    if want_missing and cells is not None:
        # every non-empty proper subset of the modalities missing ("*"), or the listed ones, one at a time
        scores = missing_modality_scores(predictor, cells)
        metric_names = [c for c in scores.columns if c not in ("present", "missing", "n_present", "target")]
        for record in scores.to_dict(orient="records"):
            absent = str(record["missing"])
            if absent and (spec.missing == ("*",) or absent in spec.missing):
                for metric in metric_names:
                    row[f"missing_{absent}_{record['target']}_{metric}"] = float(record[metric])
    if spec.robustness and cells is not None:
        curves = robustness_sweep(predictor, cells, spec.robustness, spec.seed)
        first = next(iter(predictor.pipeline.targets))
        for key, curve in curves.groupby(["corruption", "modality"], sort=False):
            corruption, modality = (str(k) for k in key)
            rr = robustness_scores(curve[curve["target"] == first].drop(columns=["target"]))
            for record in rr.to_dict(orient="records"):
                row[f"rr_{corruption}_{modality}_{first}_{record['metric']}"] = record["relative_robustness"]
        if spec.artifacts:
            write_table(curves.assign(method=spec.method, dataset=spec.dataset, seed=spec.seed),
                        Path(spec.artifacts) / spec.key() / "robustness.csv")
    row["wall_seconds"] = time.perf_counter() - start
    return row


def robustness_sweep(predictor: Any, loaded: Any, options: dict[str, Any], seed: int) -> pd.DataFrame:
    """Curves of every metric against the corruption level: each corruption on each modality it applies
    to, and on all of them together when there are several, on the test rows' loaded cells ``loaded``."""
    from polymodal.evaluation.corruptions import corruption_kinds
    from polymodal.evaluation.robustness import robustness_curve

    unknown = sorted(set(options) - {"corruptions", "levels", "modalities"})
    if unknown:
        raise ValueError(f"unknown robustness option(s) {unknown}; valid: corruptions, levels, modalities")
    levels = tuple(float(v) for v in options.get("levels") or (0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    schema = predictor.pipeline.schema
    wanted = options.get("modalities") or [m.name for m in schema.modalities]
    curves = []
    for corruption in options.get("corruptions") or ["noise"]:
        kinds = corruption_kinds(corruption)
        applicable = [m for m in wanted if set(schema.modality(m).column_kinds.values()) & kinds]
        groups: list[str | list[str]] = list(applicable)
        if len(applicable) > 1:
            groups.append(applicable)
        for group in groups:
            curves.append(robustness_curve(predictor, loaded, corruption, modality=group, levels=levels, seed=seed))
    if not curves:
        raise ValueError(f"none of the corruptions {options.get('corruptions')} applies to the modalities {wanted}")
    return pd.concat(curves, ignore_index=True)


def write_artifacts(predictor: Any, test: Table | None, folder: Path, max_points: int = 2000) -> None:
    """What the report draws for a run: ``history.csv`` (per-epoch log), and with test rows
    ``predictions.csv`` (true and predicted label per classification target) and ``embedding.csv`` (a
    2-D PCA map of the joint representation, coloured by the first target)."""
    from polymodal.engine.trainer import read_history

    folder.mkdir(parents=True, exist_ok=True)
    log_path = predictor.metrics["train"].get("log_path")
    if log_path:
        write_table(pd.DataFrame(read_history(Path(log_path))), folder / "history.csv")
    if test is None or len(test.frame) == 0:
        return
    predictions = predictor.predict(test)
    out = pd.DataFrame({"row": predictions["row"]})
    for name, encoder in predictor.pipeline.targets.items():
        if encoder.task.value in ("binary", "multiclass"):
            out[f"{name}_true"] = test.frame[name].iloc[predictions["row"].to_numpy()].astype(str).to_numpy()
            out[f"{name}_pred"] = predictions[name].astype(str).to_numpy()
    write_table(out, folder / "predictions.csv")
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(len(test.frame), size=min(max_points, len(test.frame)), replace=False))
    subset = Table(test.frame.iloc[keep].reset_index(drop=True), test.base_dir, test.source)
    joint = predictor.embed(subset).astype(np.float64)
    centred = joint - joint.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T if vt.shape[0] >= 2 else np.c_[centred[:, :1], np.zeros(len(centred))]
    first = next(iter(predictor.pipeline.targets))
    write_table(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "label": subset.frame[first].astype(str)}),
                folder / "embedding.csv")
    if len(predictor.pipeline.schema.modalities) >= 2:
        write_contribution(predictor, test, folder / EXPLAIN_JSON.parent)


def write_contribution(predictor: Any, test: Table, folder: Path) -> Path:
    """The report's modality contribution of a run: exact Shapley values of the modalities, each one alone and
    left out, on the test rows, and an integrated gradients heat map of one row per image, audio or text modality
    (when Captum is installed); kept cheap: no column permutations, no per-sample values
    (``polymodal explain`` computes them all)."""
    from importlib.util import find_spec

    from polymodal.evaluation.explain import HEATMAPS, explain, write_explanation

    gradients = find_spec("captum") is not None
    result = explain(predictor, test, columns=False, gradients=gradients, samples=1, steps=16,
                     heatmaps=folder / HEATMAPS)
    return write_explanation(result, folder, per_sample=False)


def run_inline(spec: RunSpec, timeout: float | None = None) -> dict[str, Any]:
    """Run ``spec`` in this process (no isolation): quicker to start; ``peak_rss_mb`` is then this
    process's peak so far, an upper bound of the run's own. ``timeout`` is not enforced."""
    row: dict[str, Any] = {"method": spec.method, "dataset": spec.dataset, "seed": spec.seed, "key": spec.key()}
    start = time.perf_counter()
    try:
        row.update(execute(spec), status="ok", error="", peak_rss_mb=peak_rss_mb())
    except (PolymodalError, ValueError, TypeError, RuntimeError, OSError) as exc:
        row.update(status="error", error=f"{type(exc).__name__}: {exc}", wall_seconds=time.perf_counter() - start)
    return row


def _child(spec: RunSpec, conn: Any) -> None:
    try:
        row = execute(spec)
        row["peak_rss_mb"] = peak_rss_mb()
        try:
            import torch
            if torch.cuda.is_available():
                row["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
        conn.send(("ok", row))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"))
    finally:
        conn.close()


def run_isolated(spec: RunSpec, timeout: float | None = None) -> dict[str, Any]:
    """Run ``spec`` in a fresh process; a failure or a crash becomes a row with ``status="error"``."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(spec, child), daemon=False)
    start = time.perf_counter()
    process.start()
    child.close()
    status, payload = "error", "the run's process ended without a result"
    if parent.poll(timeout):
        try:
            status, payload = parent.recv()
        except EOFError:
            payload = "the run's process died (killed, or out of memory?)"
    else:
        payload = f"timed out after {timeout} s"
        process.kill()
    process.join()
    if status == "ok" and process.exitcode not in (0, None):
        status, payload = "error", f"the run's process exited with code {process.exitcode}"
    row: dict[str, Any] = {
        "method": spec.method, "dataset": spec.dataset, "seed": spec.seed, "key": spec.key(),
        "status": status, "error": "" if status == "ok" else str(payload),
    }
    if status == "ok" and isinstance(payload, dict):
        row.update(payload)
    else:
        row["wall_seconds"] = time.perf_counter() - start
    return row


def summarize(rows: pd.DataFrame, by: list[str], metrics: list[str] | None = None) -> pd.DataFrame:
    """Mean and standard deviation (ddof=1; 0 for one run) of ``metrics`` per group of finished runs."""
    ok = rows[rows["status"] == "ok"] if "status" in rows else rows
    if metrics is None:
        skip = set(by) | {"seed", "key", "status", "error"}
        metrics = [c for c in ok.columns if c not in skip and pd.api.types.is_numeric_dtype(ok[c])]
    records = []
    for group, part in ok.groupby(by, sort=False):
        record: dict[str, Any] = dict(zip(by, group if isinstance(group, tuple) else (group,), strict=True))
        record["runs"] = len(part)
        for metric in metrics:
            values = part[metric].dropna().to_numpy(dtype=float)
            record[f"{metric}_mean"] = float(values.mean()) if len(values) else np.nan
            record[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        records.append(record)
    return pd.DataFrame.from_records(records)
