"""What each ``polymodal`` subcommand does (the parser is in :mod:`polymodal.cli`)."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from polymodal.output import out, print_json


def parse_pairs(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    """``["k=v", ...]`` to a dict; values are read as YAML scalars/lists (``4`` -> int), never evaluated."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{what} {item!r} must look like KEY=VALUE")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def parse_nested(items: Sequence[str] | None, what: str) -> dict[str, dict[str, Any]]:
    """``["image.image_size=32"]`` to ``{"image": {"image_size": 32}}``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in parse_pairs(items, what).items():
        if "." not in key:
            raise ValueError(f"{what} {key!r} must look like NAME.KEY=VALUE (NAME is a modality or a kind)")
        name, option = key.split(".", 1)
        out.setdefault(name, {})[option] = value
    return out


DATA_ROOT_OVERRIDE = ("refuse file paths in the table that resolve outside this folder, instead of the data root "
                      "the model was trained with")


def _data_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "targets": list(args.target), "modalities": parse_pairs(args.modality, "--modality"),
        "tasks": parse_pairs(args.task, "--task"), "ignore": list(args.ignore),
    }
    if args.split_column:
        options["split_column"] = args.split_column
    if args.on_error:
        options["on_error"] = args.on_error
    if args.data_root:
        options["data_root"] = args.data_root
    return options


def _encoder_options(args: argparse.Namespace, options: dict[str, Any]) -> None:
    """``--encoder``, ``--encoder-arg``, ``--preprocess`` and ``--augment`` (shared by ``fit`` and ``pretrain``)."""
    if args.encoder:
        options["encoders"] = {k: str(v) for k, v in parse_pairs(args.encoder, "--encoder").items()}
    if args.encoder_arg:
        options["encoder_args"] = parse_nested(args.encoder_arg, "--encoder-arg")
    if args.preprocess:
        options["preprocess"] = parse_nested(args.preprocess, "--preprocess")
    for name in ("init_from", "freeze", "transfer"):
        if getattr(args, name, None) is not None:
            options[name] = getattr(args, name)
    if args.augment:
        augment: dict[str, Any] = {}
        for item in args.augment:
            name, sep, names = item.partition("=")
            if not sep or not name or not names:
                raise ValueError(f"--augment takes MODALITY=NAMES (e.g. image=crop,noise or audio=default), "
                                 f"got {item!r}")
            augment[name] = names if names in ("default", "none") else names.split(",")
        options["augment"] = augment


def _weight_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--class-weight`` and ``--sample-weight`` as options (fit, tune and bench)."""
    from polymodal.data.weights import parse_class_weight

    options: dict[str, Any] = {}
    if args.class_weight:
        options["class_weight"] = parse_class_weight(args.class_weight)
    if args.sample_weight:
        options["sample_weight"] = args.sample_weight
    return options


def _stream_options(args: argparse.Namespace, options: dict[str, Any]) -> None:
    for name in ("stream", "chunk_rows", "fit_sample_rows"):
        if getattr(args, name, None) is not None:
            options[name] = getattr(args, name)


def _fit_options(args: argparse.Namespace) -> dict[str, Any]:
    options = _data_options(args)
    options = {k: v for k, v in options.items() if v or k == "targets"}
    if args.fusion:
        options["fusion"] = args.fusion
    if args.fusion_arg:
        options["fusion_args"] = parse_pairs(args.fusion_arg, "--fusion-arg")
    _encoder_options(args, options)
    if args.loss_weight:
        options["loss_weights"] = {k: float(v) for k, v in parse_pairs(args.loss_weight, "--loss-weight").items()}
    _stream_options(args, options)
    options.update(_weight_options(args))
    for name in ("preset", "baseline"):
        if getattr(args, name, None) is not None:
            options[name] = getattr(args, name)
    for name in ("modality_dropout", "sharing", "sharing_weight", "loss_weighting", "epochs", "seed", "batch_size",
                 "lr", "lr_schedule", "warmup_epochs", "label_smoothing", "ema_decay", "patience", "val_fraction",
                 "time_limit", "balance", "balance_alpha", "balance_noise", "balance_every"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    return _device_options(args, options)


def _device_options(args: argparse.Namespace, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the device flags given (`fit`, `tune`, `pretrain`)."""
    for name in ("accelerator", "strategy", "precision", "num_nodes", "verbose", "loop"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.devices is not None:
        options["devices"] = int(args.devices) if args.devices.isdigit() else args.devices
    return options


def cmd_fit(args: argparse.Namespace) -> int:
    import polymodal
    from polymodal.config import FitConfig

    config = FitConfig.from_file(args.config) if args.config else None
    options = _fit_options(args)
    if config is not None and not options["targets"]:
        options.pop("targets")
    if args.resume and not args.run_dir:
        raise ValueError("--resume needs --run-dir DIR, the folder of the run to continue")
    predictor = polymodal.fit(args.table, config=config, out=args.out, run_dir=args.run_dir, resume=args.resume,
                              force=args.force, **options)
    if predictor.global_rank != 0:  # the other processes of a multi-process run: rank 0 reports
        return 0
    if args.json:
        print_json(predictor.metrics)
        return 0
    _print_transfer(predictor.metrics)
    _print_fit_summary(predictor.metrics)
    report = predictor.last_report
    if report is not None and (report.skipped_cells or report.dropped_rows):
        out.line(("skipped:", "yellow"), f" {report.skip_summary()}")
    if args.out:
        out.line("model saved to ", (str(args.out), "bold"))
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    import polymodal
    from polymodal.config import FitConfig
    from polymodal.engine.search_space import parse_search

    config = FitConfig.from_file(args.config) if args.config else None
    options = _fit_options(args)
    options.pop("time_limit", None)  # tune's --time-limit is the study's budget, not each trial's
    if config is not None and not options["targets"]:
        options.pop("targets")
    result = polymodal.tune(args.table, config=config, trials=args.trials, study=args.study,
                            time_limit=args.time_limit, out=args.out, search=parse_search(args.search),
                            metric=args.metric, pruner=args.pruner, on_trial=_print_trial, **options)
    done = ", ".join(f"{n} {s}" for s, n in sorted(Counter(r["state"] for r in result.trials).items()))
    out.line(f"study {result.study_dir}: {result.finished} trial(s) finished of {args.trials} ({done})")
    if result.best_trial is None or result.best_bundle is None:
        out.line(("no trial completed", "yellow"), "; rerun the same command to continue the study")
        return 1
    out.line(("best", "bold"), f": trial {result.best_trial}, validation {result.metric} {result.best_value:.4f} "
             f"({_params_text(result.best_params)})")
    _print_fit_summary(polymodal.load(result.best_bundle).metrics)
    out.line("best model saved to ", (str(result.best_bundle), "bold"))
    if result.report is not None:
        out.line("report: ", (str(result.report), "bold"))
    return 0


def _params_text(params: dict[str, Any]) -> str:
    """A trial's parameters on one line (floats to 3 significant digits); no parameters: the base config."""
    if not params:
        return "the base config"
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in params.items())


def _print_trial(row: dict[str, Any]) -> None:
    state = row["state"]
    style = {"complete": "green", "pruned": "yellow"}.get(state, "red")
    params = _params_text({k: v for k, v in row.items() if k not in _TRIAL_COLUMNS})
    value = row.get("value")
    if state == "complete" and value is not None:
        detail = f": {value:.4f} in {row['epochs']} epoch(s)"
    elif state == "pruned":
        detail = f" at epoch {row.get('pruned_at_epoch')}"
    else:
        detail = f": {row.get('error', '')}" if row.get("error") else ""
    out.line(f"trial {row['trial']} ", (state, style), detail, f" ({params})")


_TRIAL_COLUMNS = ("trial", "state", "value", "epochs", "seconds", "base", "pruned_at_epoch", "error")


def _print_transfer(metrics: dict[str, Any]) -> None:
    transfer = metrics.get("transfer")
    if not transfer:
        return
    frozen = " (frozen)" if transfer["frozen"] else ""
    out.line(f"initialised {', '.join(transfer['initialised'])} from ", (str(transfer["source"]), "bold"), frozen)
    if transfer["fresh"]:
        out.line(f"not in the source, trained from scratch: {', '.join(transfer['fresh'])}")


def _print_fit_summary(metrics: dict[str, Any]) -> None:
    rows = []
    for split in ("validation", "test"):
        for target, values in metrics.get(split, {}).items():
            rows.append({"target": f"{target} ({split})", "model": "polymodal", **values})
            for model, scores in metrics.get("baseline", {}).items():
                if target in scores.get(split, {}):
                    rows.append({"target": f"{target} ({split})", "model": f"baseline: {model}",
                                 **scores[split][target]})
    columns = ["target", "model", *sorted({k for r in rows for k in r if k not in ("target", "model")})]
    out.table("metrics", rows, columns)
    train = metrics["train"]
    out.line(f"{_epochs_text(train)} in {train['train_seconds']:.1f} s "
             f"({train['samples_per_second']:.0f} samples/s); best epoch {train['best_epoch']}; "
             f"{_parameters_text(metrics)}")
    if train.get("time_limit_reached"):
        out.line("training stopped at the time limit (--time-limit); the best weights so far are kept")
    _print_preset(metrics.get("preset", {}))
    _print_ensemble(metrics)
    _print_baseline_gap(metrics)


def _epochs_text(train: dict[str, Any]) -> str:
    """``trained N epoch(s)``; a resumed run says so, with the epochs of this invocation and the total."""
    resumed = train.get("resumed_after_epochs")
    if resumed is None:
        return f"trained {train['epochs_run']} epoch(s)"
    return (f"resumed after epoch {resumed} from the checkpoint in --run-dir: trained "
            f"{train['epochs_run'] - resumed} epoch(s) in this run, {train['epochs_run']} in total,")


def _parameters_text(metrics: dict[str, Any]) -> str:
    """The parameter count; with frozen parts (``--freeze``, frozen pretrained encoders) the trainable one too."""
    total, trainable = metrics["parameters"], metrics["train"].get("trainable_parameters")
    if trainable is None or trainable == total:
        return f"{total:,} parameters"
    return f"{total:,} parameters, {trainable:,} of them trainable (the rest frozen)"


def _print_preset(preset: dict[str, Any]) -> None:
    chosen = preset.get("chosen", {})
    if not chosen:
        return
    values = [f"{k} {v}" for k, v in chosen.get("train", {}).items()]
    values += [f"{m}: {e}" for m, e in chosen.get("model", {}).get("encoders", {}).items()
               if m in preset.get("tiny_images", [])]
    members = chosen.get("model", {}).get("ensemble", [])
    if members:
        values.append("an ensemble of " + ", ".join(
            f"{m.get('fusion', 'the fusion')} (seed +{m.get('seed', 0)})" for m in members))
    out.line(f"preset {preset['name']} chose: {', '.join(values)} (saved in the bundle's config.json)")


def _print_ensemble(metrics: dict[str, Any]) -> None:
    ensemble = metrics.get("ensemble")
    if not ensemble:
        return
    for m in ensemble["members"]:
        stopped = ", stopped at its time share" if m["time_limit_reached"] else ""
        out.line(f"  member {m['member']}: {m['fusion']} seed {m['seed']}, best val loss {m['best_val_loss']:.4f}, "
                 f"{m['epochs_run']} epoch(s) in {m['train_seconds']:.1f} s{stopped}")
    if ensemble["dropped_for_time"]:
        out.line(f"  left out for lack of time: member(s) {', '.join(map(str, ensemble['dropped_for_time']))}")
    out.line(f"  combined by a stacked linear meta-model fitted on the validation rows (validation metrics "
             f"{ensemble['validation']})")


def _print_baseline_gap(metrics: dict[str, Any]) -> None:
    from polymodal.evaluation.baseline import best_baseline

    split = "test" if "test" in metrics else "validation"
    for target, values in metrics.get(split, {}).items():
        metric = "accuracy" if "accuracy" in values else "r2" if "r2" in values else None
        best = best_baseline(metrics.get("baseline", {}), split, target, metric) if metric else None
        if metric is None or best is None:
            continue
        model, value = best
        gap = values[metric] - value
        out.line(f"{target}: classical baseline {value:.4f} ({model}, {split} {metric}): polymodal {gap:+.4f}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    import polymodal

    metrics = polymodal.load(args.bundle).evaluate(args.table, on_error=args.on_error, data_root=args.data_root,
                                                   strict_columns=args.strict_columns)
    if args.json:
        print_json(metrics)
    else:
        rows = [{"target": t, **v} for t, v in metrics.items()]
        out.table("metrics", rows, ["target", *sorted({k for r in rows for k in r if k != "target"})])
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import polymodal
    from polymodal.bench.results import write_table

    if _check_engine_options(args) == "ray":
        from polymodal.engine.ray_inference import predict_on_ray

        _print_ray_result(predict_on_ray(args.bundle, args.table, args.out, on_error=args.on_error,
                                         data_root=args.data_root, **_ray_options(args)), "prediction(s)")
        return 0
    path = output_file(args.out, table=args.table, bundle=args.bundle)
    options = {"on_error": args.on_error, "data_root": args.data_root, "strict_columns": args.strict_columns}
    onnx = _onnx_file(getattr(args, "runtime", None), getattr(args, "onnx", None))
    if onnx is None:
        predictions = polymodal.load(args.bundle).predict(args.table, **options)
    else:
        from polymodal.serving.onnx_runtime import predict_onnx

        predictions = predict_onnx(polymodal.load(args.bundle), args.table, onnx, **options)
    write_table(predictions, path)
    out.line(f"{len(predictions)} prediction(s) written to ", (str(args.out), "bold"))
    return 0


def _check_engine_options(args: argparse.Namespace) -> str:
    """The engine of `predict` / `embed`; the options of the ray engine are refused with the local one."""
    given = [flag for flag, name in (("--workers", "workers"), ("--cpus-per-worker", "cpus_per_worker"),
                                     ("--batch-rows", "batch_rows"), ("--keep", "keep"))
             if getattr(args, name) is not None]
    if args.engine == "local" and given:
        raise ValueError(f"{', '.join(given)} {'is an option' if len(given) == 1 else 'are options'} of --engine "
                         "ray; add --engine ray, or leave them out")
    return str(args.engine)


def _ray_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"keep": args.keep or ()}
    if args.workers is not None:
        options["workers"] = args.workers
    if args.cpus_per_worker is not None:
        options["cpus_per_worker"] = args.cpus_per_worker
    if args.batch_rows is not None:
        options["batch_rows"] = args.batch_rows
    return options


def _print_ray_result(result: Any, what: str) -> None:
    out.line(f"{result.rows} {what} written to ", (str(result.out), "bold"),
             f" as {len(result.shards)} Parquet shard(s) in {result.seconds:.1f} s (Ray)")


def _onnx_file(runtime: str | None, onnx: str | None) -> str | None:
    """The ONNX file ``predict`` runs (None: torch): ``--onnx FILE`` implies ``--runtime onnx``."""
    if runtime == "torch" and onnx:
        raise ValueError("--onnx FILE runs the exported graph; it cannot go with --runtime torch")
    if runtime == "onnx" and not onnx:
        raise ValueError("--runtime onnx needs --onnx FILE, the graph `polymodal export BUNDLE --format onnx "
                         "--out FILE` wrote")
    return onnx


def cmd_explain(args: argparse.Namespace) -> int:
    import polymodal

    folder = Path(args.out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {args.out} is a file; give the folder to write explain.json and heatmaps/ in")
    bundle = Path(args.bundle).expanduser().resolve()
    if folder.resolve() == bundle or folder.resolve().is_relative_to(bundle):
        raise ValueError(f"--out {args.out} is inside the model bundle {args.bundle}; write to a folder outside it")
    result = polymodal.explain(args.bundle, args.table, out=folder, target=args.target or None, metric=args.metric,
                               permutations=args.permutations, repeats=args.repeats, samples=args.samples,
                               steps=args.steps, columns=args.columns, gradients=args.gradients, seed=args.seed,
                               on_error=args.on_error)
    if args.json:
        print_json(result.to_dict(per_sample=False))
        return 0
    for c in result.contributions:
        method = "exact" if c.exact else f"{c.permutations} sampled permutations"
        out.table(f"modality contribution to {c.target} {c.metric} on {result.rows} rows (Shapley values, {method})",
                  c.table(), ["modality", "shapley", "alone", "left out"])
        out.line(f"all modalities {c.full:.4f}, none {c.empty:.4f} (the Shapley values add up to the difference)")
    if len(result.column_importance):
        frame = result.column_importance
        rows = [{str(k): v for k, v in r.items()} for r in frame.to_dict(orient="records")]
        out.table(f"permutation importance of the tabular columns ({frame['metric'].iloc[0]} lost when a column is "
                  "shuffled)", rows, ["column", "importance_mean", "importance_std"])
    gradients = result.attributions
    if gradients is not None:
        if gradients.items:
            out.line(f"{len(gradients.items)} integrated gradients heat map(s) in ", (str(folder / "heatmaps"), "bold"))
        for modality, reason in gradients.skipped.items():
            out.line(f"no integrated gradients for {modality}: {reason}")
    out.line("written ", (str(folder / "explain.json"), "bold"))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import polymodal

    path = output_file(args.out, table=args.check_table or "", bundle=args.bundle, example="model.onnx")
    result = polymodal.export_onnx(args.bundle, path, check_table=args.check_table, opset=args.opset,
                                   on_error=args.on_error)
    checks = ", ".join(f"{k} rows {v:.2g}" for k, v in result.differences.items())
    out.line("ONNX graph written to ", (str(result.path), "bold"), f" (sidecar {result.sidecar})")
    out.line(f"checked with onnxruntime against torch: largest difference of probabilities {checks}")
    return 0


def output_file(value: str, table: str, bundle: str, example: str = "predictions.csv") -> Path:
    """``--out`` of a command that writes one file from ``table`` with ``bundle``, checked before any work:
    never a folder, the input table, or the bundle (or a file inside it)."""
    path = Path(value).expanduser()
    resolved = path.resolve()
    if path.is_dir():
        raise ValueError(f"--out {value} is a folder; give the file to write, e.g. --out {path / example}")
    if path.exists() and resolved == Path(table).expanduser().resolve():
        raise ValueError(f"--out {value} is the input table; write to another file, so the table is kept")
    folder = Path(bundle).expanduser().resolve()
    if resolved == folder or resolved.is_relative_to(folder):
        raise ValueError(f"--out {value} is inside the model bundle {bundle}; write to a file outside it")
    return path


def cmd_inspect(args: argparse.Namespace) -> int:
    from polymodal.data.inspect import inspect_table
    from polymodal.data.schema import infer_schema
    from polymodal.data.table import read_table

    table = read_table(args.table)
    options = _data_options(args)
    ignore = [*options["ignore"], *([args.split_column] if args.split_column else [])]
    schema = infer_schema(table.frame, options["targets"], options["modalities"], options["tasks"], ignore=ignore)
    result = inspect_table(table, schema, data_root=args.data_root)
    report = result.report
    if args.json:
        print_json({"rows": len(table.frame), "columns": result.columns,
                    "modalities": [{"name": m.name, "kind": m.kind.value, "columns": m.columns}
                                   for m in schema.modalities], "coverage": result.coverage,
                    "problems": [p.__dict__ for p in report.problems]})
        return 1 if report.errors else 0
    out.line((str(table.source), "bold"), f": {len(table.frame)} rows, {len(table.frame.columns)} columns")
    out.table("schema", result.columns, ["column", "kind", "modality", "present", "unreadable", "missing", "unique"])
    for spec in schema.modalities:
        out.line("modality ", (spec.name, "bold"), f" ({spec.kind.value}): {', '.join(spec.columns)}")
    if result.coverage:
        out.table("label coverage", result.coverage, ["target", "labelled", "rows", "coverage"])
    if not report.problems:
        out.line(("no problems found", "green"))
        return 0
    out.problems(report.problems)
    out.line(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    return 1 if report.errors else 0


def cmd_fusions(args: argparse.Namespace) -> int:
    from polymodal.fusion import FUSIONS, settable_arguments

    rows = [{"method": e.name, "kind": _fusion_kind(e.factory), "arguments": ", ".join(settable_arguments(e.name)),
             "description": e.description} for e in FUSIONS]
    out.table("fusion methods", rows, ["method", "kind", "arguments", "description"])
    return 0


def _fusion_kind(factory: Any) -> str:
    if getattr(factory, "raw_inputs", False):
        return "early"
    return "late" if getattr(factory, "produces_predictions", False) else "middle"


def cmd_encoders(args: argparse.Namespace) -> int:
    from polymodal.encoders import ENCODERS
    from polymodal.encoders.pretrained import family_rows

    rows = [{"method": e.name, "arguments": ", ".join(e.parameters()), "description": e.description}
            for e in ENCODERS]
    out.table("encoders", rows, ["method", "arguments", "description"])
    out.table("hf: model families (--encoder KIND=hf:NAME_OR_PATH, a hub name or a local folder; "
              "--encoder-arg KIND.pooling=cls|mean|pooler, KIND.train=lora:r=8)", family_rows(),
              ["family", "kind", "model types", "pooling", "example"])
    return 0


def bench_config(args: argparse.Namespace) -> Any:
    """The grid of ``polymodal bench``: the YAML file, with flags overriding, or one table from flags."""
    from polymodal.bench.config import BenchConfig, DatasetEntry, MethodEntry

    if args.config and args.table:
        raise ValueError("give either a grid file or --table, not both")
    if args.config:
        config = BenchConfig.from_file(args.config)
    else:
        if not args.table or not args.target:
            raise ValueError("polymodal bench needs a grid file, or --table TABLE --target COL")
        options: dict[str, Any] = {}
        if args.split_column:
            options["split_column"] = args.split_column
        if args.ignore:
            options["ignore"] = list(args.ignore)
        fusions = args.fusion or ["early", "concat", "late"]
        config = BenchConfig(
            name=f"polymodal bench: {Path(args.table).name}",
            datasets=[DatasetEntry(name=Path(args.table).stem, table=str(Path(args.table).resolve()),
                                   target=list(args.target), options=options)],
            methods=[MethodEntry(name=f, options={"fusion": f}) for f in fusions],
        )
    if args.seeds:
        config.seeds = list(args.seeds)
    if args.epochs is not None:
        config.common["epochs"] = args.epochs
    if args.modality_dropout is not None:
        config.common["modality_dropout"] = args.modality_dropout
    config.common.update(_weight_options(args))
    if args.preset is not None:
        config.common["preset"] = args.preset
    if args.baseline is not None:
        config.common["baseline"] = args.baseline
    if args.inline:
        config.isolate = False
    if args.timeout is not None:
        config.timeout = args.timeout
    return config


def cmd_bench(args: argparse.Namespace) -> int:
    from polymodal.bench.runner import run_benchmark, summary_markdown

    config = bench_config(args)

    def progress(row: dict[str, Any], done: int, total: int) -> None:
        status = ("ok", "green") if row["status"] == "ok" else ("failed", "red")
        detail = "" if row["status"] == "ok" else f": {(row['error'].splitlines() or [''])[0]}"
        out.line(f"[{done}/{total}] {row['dataset']} · {row['method']} · seed {row['seed']}: ", status, detail)

    result = run_benchmark(config, args.out, on_row=progress)
    if "summary" not in result:
        out.line(("every run of the grid failed", "red"), f"; see {result['runs']}")
        return 1
    out.line(summary_markdown(result["summary"], result["metric"]))
    stale = (f"; {result['n_stale']} stale row(s) from runs no longer in the grid, kept apart and not counted"
             if result.get("n_stale") else "")
    out.line(f"runs: {result['runs']} ({result['n_ok']} finished, {result['n_failed']} failed{stale})")
    for report in result["reports"]:
        out.line("report: ", (str(report), "bold"))
    return 0 if result["n_failed"] == 0 else 1


def cmd_bench_docs(args: argparse.Namespace) -> int:
    from polymodal.bench.docs import write_benchmarks_doc

    if not Path(args.results).is_dir():
        raise FileNotFoundError(f"results folder {args.results} not found (run from the repository root?)")
    out.line("written ", (str(write_benchmarks_doc(args.results, args.out)), "bold"))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from polymodal.demo import run_demo

    run_demo(Path(args.out), epochs=args.epochs, seed=args.seed, printer=out, preset=args.preset)
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    if args.name == "digits":
        from polymodal.datasets.digits import make_digits_two_view

        path = make_digits_two_view(args.out, seed=args.seed)
    else:
        from polymodal.datasets.avdigits import build_avdigits

        if not args.mnist or not args.fsdd:
            raise ValueError("avdigits needs --mnist FILE (mnist.npz) and --fsdd DIR (the recordings folder)")
        kwargs: dict[str, Any] = {"seed": args.seed, "max_rows": args.max_rows}
        if args.test_speaker:
            kwargs["test_speakers"] = tuple(args.test_speaker)
        path = build_avdigits(Path(args.mnist), Path(args.fsdd), Path(args.out), **kwargs)
    out.line("table written to ", (str(path), "bold"))
    return 0


def _pretrain_options(args: argparse.Namespace) -> dict[str, Any]:
    options = {k: v for k, v in _data_options(args).items() if v}
    if args.objective_arg:
        options["objective_args"] = parse_pairs(args.objective_arg, "--objective-arg")
    _encoder_options(args, options)
    _stream_options(args, options)
    for name in ("epochs", "seed", "batch_size", "lr", "lr_schedule", "warmup_epochs", "patience", "val_fraction",
                 "time_limit"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    return _device_options(args, options)


def cmd_pretrain(args: argparse.Namespace) -> int:
    from polymodal.config import PretrainConfig
    from polymodal.engine.pretrain import pretrain

    config = PretrainConfig.from_file(args.config) if args.config else None
    pretrained = pretrain(args.table, args.objective, config=config, out=args.out, run_dir=args.run_dir,
                          resume=args.resume, force=args.force, **_pretrain_options(args))
    if args.json:
        print_json(pretrained.metrics)
        return 0
    _print_transfer(pretrained.metrics)
    train = pretrained.metrics["train"]
    out.line(f"{pretrained.config.model.objective}: {_epochs_text(train)} in "
             f"{train['train_seconds']:.1f} s; best validation loss {train['best_val_loss']:.4f} at epoch "
             f"{train['best_epoch']}; embeddings of size {pretrained.embedding_dim}; "
             f"{_parameters_text(pretrained.metrics)}")
    if args.out:
        out.line("representation saved to ", (str(args.out), "bold"))
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from polymodal.bench.results import write_table
    from polymodal.encoders.pretrained.joint import strip_hf
    from polymodal.engine.joint_model import is_joint_name, with_model_columns

    if _check_engine_options(args) == "ray":
        from polymodal.engine.ray_inference import embed_on_ray

        if is_joint_name(args.bundle) or args.columns:
            raise ValueError("--engine ray embeds with a bundle of `polymodal pretrain`; a joint model hf:NAME runs "
                             "with the local engine (or save it as a bundle: polymodal.from_joint(...).save(DIR))")
        modalities = [args.from_modality] if args.from_modality else None
        _print_ray_result(embed_on_ray(args.bundle, args.table, args.out, on_error=args.on_error,
                                       modalities=modalities, **_ray_options(args)), "embedding(s)")
        return 0
    path = output_file(args.out, table=args.table, bundle=strip_hf(args.bundle), example="embeddings.npy")
    model = _representation(args.bundle, args.table, args.columns)
    table: Any = args.table
    if is_joint_name(args.bundle):
        table = with_model_columns(model, args.table, keep=args.from_modality)
    modalities = [args.from_modality] if args.from_modality else None
    z = model.embed(table, on_error=args.on_error, modalities=modalities)
    if path.suffix.lower() == ".npy":
        from polymodal.storage.atomic import atomic_write_with

        atomic_write_with(path, lambda tmp: np.save(tmp, z, allow_pickle=False))
    else:
        frame = pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])
        frame.insert(0, "row", np.arange(len(z)))
        write_table(frame, path)
    out.line(f"{len(z)} embedding(s) of size {z.shape[1]} written to ", (str(path), "bold"))
    return 0


def _representation(bundle: str, table: str, columns: str | None) -> Any:
    """The representation a command's BUNDLE argument names: a joint model ``hf:NAME`` used as it is, or a bundle."""
    from polymodal.engine.joint_model import from_joint, is_joint_name
    from polymodal.pretrained import PretrainedModel

    if is_joint_name(bundle):
        return from_joint(bundle, table, columns=columns)
    if columns:
        raise ValueError(f"--columns chooses the columns of a joint model hf:NAME; the bundle {bundle} has its own")
    return PretrainedModel.load(bundle)


def cmd_retrieve(args: argparse.Namespace) -> int:
    from polymodal.engine.joint_model import is_joint_name
    from polymodal.evaluation.retrieval import cross_modal_retrieval

    source, target = args.from_modality, args.to_modality
    columns = f"{source}+{target}" if is_joint_name(args.bundle) else None
    model = _representation(args.bundle, args.table, columns)
    if columns:  # --from image --to text name the table's columns by kind: the model knows them by name
        source, target = (spec.name for spec in model.pipeline.schema.modalities)
    scores = cross_modal_retrieval(model, args.table, source, target, label_column=args.label)
    if args.json:
        print_json(scores)
        return 0
    out.table(f"retrieval {source} -> {target}", [{"method": "pretrained", **scores}],
                        ["method", *scores])
    return 0


def cmd_zero_shot(args: argparse.Namespace) -> int:
    from polymodal.bench.results import write_table
    from polymodal.encoders.pretrained.joint import strip_hf
    from polymodal.evaluation.zero_shot import zero_shot

    path = output_file(args.out, table=args.table, bundle=strip_hf(args.bundle)) if args.out else None
    classes = [c.strip() for c in args.classes.split(",")]
    result = zero_shot(args.bundle, args.table, classes, templates=args.labels or ["{}"], target=args.target,
                       modality=args.from_modality, text_modality=args.text_modality, columns=args.columns,
                       on_error=args.on_error)
    if path is not None:
        write_table(result.predictions, path)
    if args.json:
        print_json(result.metrics)
    elif result.metrics:
        rows = [{"target": t, **v} for t, v in result.metrics.items()]
        out.table(f"zero-shot {result.modality} (prompts: {result.text_modality})", rows,
                  ["target", *sorted({k for r in rows for k in r if k != "target"})])
    else:
        counts = result.predictions["predicted"].value_counts()
        rows = [{"class": c, "predicted rows": int(counts.get(c, 0))} for c in classes]
        out.table(f"zero-shot {result.modality} (prompts: {result.text_modality})", rows, ["class", "predicted rows"])
    if path is not None and not args.json:
        out.line(f"{len(result.predictions)} prediction(s) written to ", (str(path), "bold"))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from polymodal.generation import INDEX_NAME, generate

    index = generate(args.bundle, args.table, source=args.from_modality, target=args.to_modality, out=args.out,
                     seed=args.seed, samples=args.samples, on_error=args.on_error)
    out.line(f"{len(index)} {args.to_modality} sample(s) generated from {args.from_modality} in ",
             (str(args.out), "bold"), f" (index: {Path(args.out) / INDEX_NAME})")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from polymodal.cache import cache_info, clear_cache, default_cache_dir, foreign_folders

    folder = Path(args.dir).expanduser() if args.dir else default_cache_dir()
    if folder is None:
        out.line("the embedding cache is turned off (POLYMODAL_CACHE=off)")
        return 0
    if args.action == "clear":
        out.line(clear_cache(folder).summary())
        return 0
    spaces, foreign = cache_info(folder), foreign_folders(folder)
    if args.json:
        print_json({"dir": str(folder), "namespaces": [vars(s) for s in spaces], "not_cache": foreign})
        return 0
    rows = [{"namespace": s.name, "encoder": s.meta.get("encoder"), "dim": s.meta.get("dim"), "entries": s.entries,
             "MB": s.bytes / 1e6} for s in spaces]
    out.table(f"embedding cache {folder}", rows, ["namespace", "encoder", "dim", "entries", "MB"])
    if foreign:
        out.line(f"{len(foreign)} folder(s) that are not polymodal cache namespaces (left alone): {', '.join(foreign)}")
    return 0
