"""The ``polymodal`` command line: thin; it parses, calls the library and prints."""

from __future__ import annotations

import argparse
import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from polymodal.errors import PolymodalError, PolymodalWarning
from polymodal.output import err

PRESETS = ["none", "fast", "medium", "best"]  # polymodal.engine.presets.PRESETS (tested equal)
DATA_ROOT_OVERRIDE = ("refuse file paths in the table that resolve outside this folder, instead of the data root "
                      "the model was trained with")
STRICT_COLUMNS = ("refuse a table that lacks every column of one of the model's modalities (by default that "
                  "modality is missing in every row, with a warning)")


JOINT_OR_BUNDLE = ("a bundle of `polymodal pretrain`, or a joint model used as it is: hf:NAME (a CLIP, SigLIP or "
                   "CLAP hub name) or hf:PATH (a local folder)")
JOINT_COLUMNS = ("with a joint model hf:NAME: the columns its towers encode, as in --encoder A+B=hf:NAME (names or "
                 "kinds; default image+text or audio+text)")


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", action="append", default=[], help="target column (repeat for several)")
    p.add_argument("--modality", action="append", default=[], metavar="COL=KIND",
                   help="override a column's kind: image, audio, text, numeric, categorical, vector, ignore")
    p.add_argument("--task", action="append", default=[], metavar="COL=TASK",
                   help="override a target's task: binary, multiclass, multilabel, regression")
    p.add_argument("--ignore", action="append", default=[], metavar="COL", help="column to leave out")
    p.add_argument("--split-column", help="column whose 'test' rows are held out and reported as test metrics")
    p.add_argument("--on-error", choices=["raise", "skip"], default=None,
                   help="raise (default) on bad cells, or treat them as missing modalities and report counts")
    p.add_argument("--data-root", help="refuse file paths in the table that resolve outside this folder "
                                       "(saved with the model as an absolute path)")


def _add_weight_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--class-weight", action="append", default=[], metavar="SPEC",
                   help="class weights of the loss: balanced, or CLASS=VALUE,... (others weigh 1); per target in "
                        "a multi-task fit, TARGET:SPEC (repeat the flag)")
    p.add_argument("--sample-weight", metavar="COL",
                   help="column of each row's weight in the loss (non-negative numbers; never an input)")


def _add_transfer_options(p: argparse.ArgumentParser, trunk: bool) -> None:
    p.add_argument("--init-from", metavar="BUNDLE",
                   help="initialise the encoders of the modalities this bundle (of `pretrain` or `fit`) has from "
                        "its weights, reusing its fitted preprocessing; the other modalities start fresh")
    p.add_argument("--freeze", action="store_true", default=None,
                   help="keep the transferred weights fixed (no gradient; batch norm and dropout in eval mode)")
    if trunk:
        p.add_argument("--transfer", choices=["encoders", "trunk"],
                       help="what --init-from transfers: the encoders (default), or the encoders and the fusion "
                            "trunk of a supervised bundle, under new heads for the new targets")


def _add_training_options(p: argparse.ArgumentParser) -> None:
    """The options of `fit` that make a config: data, model, training and devices (`fit` and `tune`)."""
    p.add_argument("table")
    _add_data_options(p)
    p.add_argument("--config", help="YAML/JSON experiment config; flags override it")
    p.add_argument("--fusion", help="fusion method (see `polymodal fusions`)")
    p.add_argument("--fusion-arg", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--encoder", action="append", default=[], metavar="MODALITY=NAME",
                   help="encoder for a modality or a kind (e.g. text=text-transformer)")
    p.add_argument("--encoder-arg", action="append", default=[], metavar="NAME.KEY=VALUE")
    p.add_argument("--preprocess", action="append", default=[], metavar="NAME.KEY=VALUE",
                   help="preprocessing option for a modality or kind (e.g. image.image_size=32)")
    p.add_argument("--augment", action="append", default=[], metavar="MODALITY=NAMES",
                   help="training augmentations of a modality or kind: default, none, or names joined by commas "
                        "(crop, flip, blur, noise, time_shift, time_mask, freq_mask, word_dropout)")
    p.add_argument("--modality-dropout", type=float, help="probability of hiding a modality of a sample in training")
    p.add_argument("--sharing", choices=["hard", "soft", "cross-stitch"],
                   help="multi-task parameter sharing: one trunk (hard, default), a tower per target tied by "
                        "an L2 penalty (soft) or by cross-stitch units")
    p.add_argument("--sharing-weight", type=float, help="weight of the L2 penalty between towers (soft)")
    p.add_argument("--loss-weighting", choices=["fixed", "uncertainty"],
                   help="multi-task loss: fixed weights, or learned uncertainty weighting (Kendall et al. 2018)")
    p.add_argument("--loss-weight", action="append", default=[], metavar="TARGET=W", help="fixed loss weight")
    _add_transfer_options(p, trunk=True)
    for flag, typ in (("--epochs", int), ("--seed", int), ("--batch-size", int), ("--lr", float),
                      ("--patience", int), ("--val-fraction", float)):
        p.add_argument(flag, type=typ)
    p.add_argument("--preset", choices=PRESETS,
                   help="training recipe resolved from the data for the options not given: medium (default; "
                        "converged training, encoders that suit the inputs), fast, best (medium and an ensemble of "
                        "several fusions, sharing --time-limit), or none (plain defaults)")
    p.add_argument("--no-baseline", dest="baseline", action="store_false", default=None,
                   help="do not fit the classical baseline (logistic regression and gradient boosting on simple "
                        "features of the same rows) reported beside the model")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"],
                   help="learning rate over training: constant (default) or a cosine decay to zero")
    p.add_argument("--warmup-epochs", type=float, help="epochs of linear warmup from zero to --lr")
    p.add_argument("--label-smoothing", type=float,
                   help="label smoothing of the multiclass training loss (0: none; validation scores without)")
    p.add_argument("--ema-decay", type=float,
                   help="validate, keep and save an exponential moving average of the weights with this decay per "
                        "step (e.g. 0.99 to 0.9999; medium and best choose one from the steps per epoch)")
    _add_weight_options(p)
    p.add_argument("--balance", choices=["none", "ogm-ge", "gradient-blending"],
                   help="modality imbalance, middle fusions: ogm-ge (gradient modulation of the dominant modalities' "
                        "encoders, Peng et al. 2022) or gradient-blending (loss weights from each modality's "
                        "overfitting-to-generalisation ratio, Wang et al. 2020); default none")
    p.add_argument("--balance-alpha", type=float, help="ogm-ge: alpha of 1 - tanh(alpha (ratio - 1)) (default 0.5)")
    p.add_argument("--no-balance-noise", dest="balance_noise", action="store_false", default=None,
                   help="ogm-ge: no generalisation-enhancement noise on the modulated gradients")
    p.add_argument("--balance-every", type=int,
                   help="gradient-blending: epochs between re-estimates of the loss weights (default 2)")
    _add_device_options(p)


def _add_device_options(p: argparse.ArgumentParser) -> None:
    """Where training runs (`fit`, `tune`, `pretrain`): passed to Lightning's Trainer."""
    p.add_argument("--accelerator", help="cpu, gpu, auto ... (passed to Lightning)")
    p.add_argument("--devices", help="number of devices per node, or a list (passed to Lightning)")
    p.add_argument("--num-nodes", type=int, help="machines in a multi-node run (passed to Lightning; "
                                                  "see docs/distributed.md)")
    p.add_argument("--strategy", help="e.g. ddp (passed to Lightning)")
    p.add_argument("--precision", help="e.g. 32-true, bf16-mixed, 16-mixed (passed to Lightning)")
    p.add_argument("--verbose", action="store_true", default=None, help="show Lightning's own messages (devices, tips)")
    p.add_argument("--loop", choices=["auto", "lightning"],
                   help="training loop: auto (polymodal's own for a single-process CPU run in 32-bit precision, "
                        "else Lightning; the default) or lightning (always)")


def _add_engine_options(p: argparse.ArgumentParser, what: str) -> None:
    """`predict` and `embed` on a Ray cluster (see docs/distributed.md)."""
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help=f"local (default): this process; ray: Ray Data over the Parquet shards of TABLE (a .parquet "
                        f"file, a folder, a glob or a URL), a pool of actors each loading the bundle once, the {what} "
                        "written as Parquet shards to the --out folder (needs pip install \"polymodal[ray]\")")
    p.add_argument("--workers", type=int, metavar="N", help="--engine ray: actors in the pool (default 2)")
    p.add_argument("--cpus-per-worker", type=float, metavar="C",
                   help="--engine ray: CPUs each actor reserves, and its torch threads (default 1)")
    p.add_argument("--batch-rows", type=int, metavar="N",
                   help="--engine ray: rows an actor predicts at a time (default 1024)")
    p.add_argument("--keep", action="append", metavar="COL",
                   help="--engine ray: copy this input column (e.g. an id) beside the outputs; repeat for more "
                        "(every output row has its input position in `row` either way)")


def _add_bundle_output(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--out", help=f"folder to save the {what} bundle in")
    p.add_argument("--force", action="store_true",
                   help="replace an existing bundle at --out even when it is of another kind or damaged (a folder "
                        "that is not a polymodal bundle is never replaced)")


def _add_stream_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stream", action="store_true", default=None,
                   help="tables larger than memory (a file, or a folder or glob of Parquet shards): read in chunks; "
                        "preprocessing fitted on a sample")
    p.add_argument("--chunk-rows", type=int, help="rows per chunk when streaming (default 10,000)")
    p.add_argument("--fit-sample-rows", type=int, help="rows sampled to fit the preprocessing when streaming")


def _add_run_folder_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dir", help="folder for the per-epoch log, the best checkpoint and a resume checkpoint")
    p.add_argument("--resume", action="store_true",
                   help="continue the killed run in --run-dir from its last completed epoch (same config and "
                        "table); starts afresh, with a warning, when the folder holds no checkpoint")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polymodal", description="Multimodal learning from tables.")
    parser.add_argument("--version", action="version", version=f"polymodal {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fit", help="train a model on a table")
    _add_training_options(p)
    _add_stream_options(p)
    _add_bundle_output(p, "model")
    _add_run_folder_options(p)
    p.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="train for at most this long: stop cleanly at the budget with the best weights so far")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")

    p = sub.add_parser("tune", help="search fit's options with Optuna; the study resumes, the best is a bundle",
                       description="Tune the options of `fit` that are not given: each trial is a fit with a draw "
                                   "of the search space, scored by the first target's validation metric; poor trials "
                                   "are pruned. The study is stored in --study DIR: the same command again resumes it.")
    _add_training_options(p)
    p.add_argument("--trials", type=int, required=True,
                   help="trials the study should hold when done (complete, pruned or failed), those of earlier "
                        "runs of the same study included: a rerun after an interruption runs the rest")
    p.add_argument("--study", required=True, metavar="DIR",
                   help="folder of the study: study.db (Optuna SQLite storage), trials.csv, report.html, best/")
    p.add_argument("--out", help="folder for the best trial's model bundle (default DIR/best)")
    p.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="budget of this run: no trial starts after it, and a running trial stops cleanly with its "
                        "best weights")
    p.add_argument("--search", action="append", default=[], metavar="NAME=VALUES",
                   help="change one dimension of the search space: choices (fusion=concat,late), a range "
                        "(lr=1e-4:1e-2), or off (dropout=off: the base value); NAME is a model or training option, "
                        "encoder_width, or FUSION.ARG (low_rank.rank=2,4)")
    p.add_argument("--metric", help="validation metric of the first target to optimise (default accuracy; r2 for "
                                    "regression; also macro_f1, auroc, mae, rmse)")
    p.add_argument("--pruner", choices=["median", "hyperband", "none"], default="median",
                   help="how poor trials are stopped early (default median: behind the median of the trials at the "
                        "same epoch)")

    p = sub.add_parser("pretrain", help="learn a multimodal representation of a table (no targets needed)")
    p.add_argument("table")
    _add_data_options(p)
    p.add_argument("--config", help="YAML/JSON pretraining config; flags override it")
    p.add_argument("--objective",
                   help="contrastive, dcca, dccae, autoencoder, vae, projection or cgan (default contrastive)")
    p.add_argument("--objective-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="argument of the objective's model (e.g. latent_dim=16, joint=mopoe; cgan: source=audio, "
                        "target=image)")
    p.add_argument("--encoder", action="append", default=[], metavar="MODALITY=NAME")
    p.add_argument("--encoder-arg", action="append", default=[], metavar="NAME.KEY=VALUE")
    p.add_argument("--preprocess", action="append", default=[], metavar="NAME.KEY=VALUE")
    _add_transfer_options(p, trunk=False)
    p.add_argument("--augment", action="append", default=[], metavar="MODALITY=NAMES",
                   help="training augmentations of a modality or kind: default, none, or names joined by commas "
                        "(crop, flip, blur, noise, time_shift, time_mask, freq_mask, word_dropout)")
    _add_stream_options(p)
    _add_bundle_output(p, "representation")
    _add_run_folder_options(p)
    for flag, typ in (("--epochs", int), ("--seed", int), ("--batch-size", int), ("--lr", float),
                      ("--patience", int), ("--val-fraction", float)):
        p.add_argument(flag, type=typ)
    p.add_argument("--lr-schedule", choices=["constant", "cosine"],
                   help="learning rate over training: constant (default) or a cosine decay to zero")
    p.add_argument("--warmup-epochs", type=float, help="epochs of linear warmup from zero to --lr")
    p.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="train for at most this long: stop cleanly at the budget with the best weights so far")
    _add_device_options(p)
    p.add_argument("--json", action="store_true", help="print the training summary as JSON")

    p = sub.add_parser("embed", help="embeddings of a table's rows by a pretrained representation or a joint model")
    p.add_argument("bundle", help=JOINT_OR_BUNDLE)
    p.add_argument("table")
    p.add_argument("--out", required=True, help=".npy file, or a CSV/Parquet/JSONL table (row, z0, z1, ...)")
    p.add_argument("--on-error", choices=["raise", "skip"], default=None)
    p.add_argument("--columns", metavar="A+B", help=JOINT_COLUMNS)
    p.add_argument("--from", dest="from_modality", help="embed from this modality only (default: the mean of all)")
    _add_engine_options(p, "embeddings")

    p = sub.add_parser("retrieve", help="cross-modal retrieval with a pretrained representation: recall@k, median rank")
    p.add_argument("bundle", help=JOINT_OR_BUNDLE)
    p.add_argument("table")
    p.add_argument("--from", dest="from_modality", required=True, help="query modality")
    p.add_argument("--to", dest="to_modality", required=True, help="gallery modality")
    p.add_argument("--label", help="pairs made by label: a hit is any gallery item of the query's label")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("zero-shot", help="classify rows by text prompts with a joint model or a contrastive bundle",
                       description="Each row's image (or audio) is compared by cosine similarity with the embedded "
                                   "prompts of every class (several templates are averaged, as OpenCLIP does); the "
                                   "prediction is the most similar class.")
    p.add_argument("bundle", help=JOINT_OR_BUNDLE)
    p.add_argument("table")
    p.add_argument("--classes", required=True, help="class names, joined by commas (e.g. cat,dog,bird)")
    p.add_argument("--labels", action="append", default=[], metavar="TEMPLATE",
                   help='prompt template with {} for the class name (repeat to average several; default "{}")')
    p.add_argument("--target", help="column of class names: score the predictions as `evaluate` does")
    p.add_argument("--from", dest="from_modality", help="modality to classify (default: the only image/audio one)")
    p.add_argument("--text-modality", help="text modality that embeds the prompts (default: the only text one)")
    p.add_argument("--columns", metavar="A+B", help=JOINT_COLUMNS)
    p.add_argument("--out", help="CSV, Parquet or JSONL file for the predictions (not the table, not a folder)")
    p.add_argument("--on-error", choices=["raise", "skip"], default=None)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")

    p = sub.add_parser("generate", help="generate one modality from another with a vae, autoencoder or cgan bundle: "
                                        "PNG images, WAV audio and an index table")
    p.add_argument("bundle")
    p.add_argument("table")
    p.add_argument("--from", dest="from_modality", required=True, help="modality to generate from")
    p.add_argument("--to", dest="to_modality", required=True, help="modality to generate (image or audio)")
    p.add_argument("--out", required=True, help="folder for the files and the index generated.csv")
    p.add_argument("--seed", type=int, default=0, help="seed of the generator's noise (cgan) and of Griffin-Lim")
    p.add_argument("--samples", type=int, default=1, help="samples per row (several only for a cgan bundle)")
    p.add_argument("--on-error", choices=["raise", "skip"], default=None)

    p = sub.add_parser("evaluate", help="metrics of a saved model on a labelled table")
    p.add_argument("bundle")
    p.add_argument("table")
    p.add_argument("--on-error", choices=["raise", "skip"], default=None)
    p.add_argument("--data-root", help=DATA_ROOT_OVERRIDE)
    p.add_argument("--strict-columns", action="store_true", help=STRICT_COLUMNS)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("predict", help="predictions of a saved model, one row per input row")
    p.add_argument("bundle")
    p.add_argument("table")
    p.add_argument("--out", required=True, help="CSV, Parquet or JSONL file to write (not the table, not a folder); "
                                                "with --engine ray a folder of Parquet shards")
    p.add_argument("--on-error", choices=["raise", "skip"], default=None)
    p.add_argument("--data-root", help=DATA_ROOT_OVERRIDE)
    p.add_argument("--strict-columns", action="store_true", help=STRICT_COLUMNS)
    _add_engine_options(p, "predictions")
    p.add_argument("--runtime", choices=["torch", "onnx"],
                   help="what runs the model after polymodal's preprocessing: torch (default), or onnxruntime on "
                        "the graph of `polymodal export` (--onnx FILE); both write the same columns")
    p.add_argument("--onnx", metavar="FILE", help="the ONNX file exported from BUNDLE (implies --runtime onnx)")

    p = sub.add_parser("explain", help="what a saved model relies on: Shapley values of its modalities, column "
                                       "importance, integrated gradients heat maps",
                       description="On a labelled table: exact Shapley values of each modality for the task metric "
                                   "and per sample (every subset of modalities scored with the others masked as "
                                   "missing; sampled permutations beyond 8 modalities), each modality alone and left "
                                   "out, the permutation importance of tabular columns, and integrated gradients "
                                   "(Captum) on image, audio and text inputs drawn as heat maps.")
    p.add_argument("bundle")
    p.add_argument("table", help="a labelled table (the targets' columns are needed)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for explain.json and heatmaps/")
    p.add_argument("--target", action="append", default=[],
                   help="target to explain (repeat for several; default the first)")
    p.add_argument("--metric", help="metric of the Shapley values and column importances (default accuracy; r2 "
                                    "for regression; also macro_f1, auroc, mae, rmse)")
    p.add_argument("--permutations", type=int, default=64,
                   help="sampled permutations of the modalities when there are more than 8 (default 64)")
    p.add_argument("--repeats", type=int, default=5, help="permutations of each tabular column (default 5)")
    p.add_argument("--samples", type=int, default=3, help="rows per modality drawn as heat maps (default 3)")
    p.add_argument("--steps", type=int, default=32, help="integration steps of integrated gradients (default 32)")
    p.add_argument("--no-columns", dest="columns", action="store_false", help="skip the column importances")
    p.add_argument("--no-gradients", dest="gradients", action="store_false",
                   help="skip the integrated gradients and heat maps")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled permutations (default 0)")
    p.add_argument("--on-error", choices=["raise", "skip"], default=None)
    p.add_argument("--json", action="store_true", help="print explain.json's contents (without per-sample values)")

    p = sub.add_parser("export", help="export a saved model to ONNX, checked with onnxruntime",
                       description="The graph takes the preprocessed tensors of every modality and one boolean "
                                   "mask per modality (dynamic batch axis) and gives each target's logits and "
                                   "probabilities (values for regression); it is checked against torch on a "
                                   "synthetic batch (and on --check-table's rows) before it is written, with a "
                                   "sidecar FILE.json describing inputs and outputs.")
    p.add_argument("bundle")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="export format (onnx)")
    p.add_argument("--out", required=True, metavar="FILE", help="the file to write, e.g. model.onnx")
    p.add_argument("--check-table", metavar="TABLE", help="also check the graph on the rows of this table")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--on-error", choices=["raise", "skip"], default=None)

    p = sub.add_parser("inspect", help="inferred schema, counts and every problem in a table")
    p.add_argument("table")
    _add_data_options(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("demo", help="train and compare fusions on the embedded default dataset")
    p.add_argument("--out", default="polymodal-demo", help="folder for the data, models and report")
    p.add_argument("--epochs", type=int, help="cap the epochs of every run (default: the preset's)")
    p.add_argument("--preset", choices=PRESETS, default="medium",
                   help="training recipe of every run (default medium)")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("bench", help="run a grid of methods x datasets x seeds; results, summary and HTML report",
                       description="Run a benchmark grid from a YAML file, or from flags for one table. Finished "
                                   "runs are kept: running the same grid again resumes it.")
    p.add_argument("config", nargs="?", help="YAML/JSON grid (see polymodal.bench.config); or use --table")
    p.add_argument("--table", help="one table to benchmark (instead of a YAML grid)")
    p.add_argument("--target", action="append", default=[], help="target column (repeat for several)")
    p.add_argument("--fusion", action="append", default=[], help="fusion method to compare (repeat)")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--split-column", help="column whose 'test' rows are held out")
    p.add_argument("--ignore", action="append", default=[], help="column to leave out")
    p.add_argument("--modality-dropout", type=float)
    _add_weight_options(p)
    p.add_argument("--preset", choices=PRESETS,
                   help="training recipe of every run (default medium; a grid's own options win)")
    p.add_argument("--no-baseline", dest="baseline", action="store_false", default=None,
                   help="do not fit the classical baseline beside every run")
    p.add_argument("--inline", action="store_true", help="run in this process (faster start, shared memory peak)")
    p.add_argument("--timeout", type=float, help="seconds before an isolated run is stopped and recorded as failed")
    p.add_argument("--out", required=True, help="folder for runs.csv, summary and report.html")

    p = sub.add_parser("bench-docs", help="regenerate docs/benchmarks.md from the benchmark results files")
    p.add_argument("--results", default="benchmarks/results", help="folder of the benchmark results (.md)")
    p.add_argument("--out", default="docs/benchmarks.md")

    p = sub.add_parser("cache", help="the embedding cache of frozen pretrained encoders: what it holds, or clear it")
    p.add_argument("action", choices=["info", "clear"])
    p.add_argument("--dir", help="cache folder (default: $POLYMODAL_CACHE or ~/.cache/polymodal)")
    p.add_argument("--json", action="store_true", help="print info as JSON")

    sub.add_parser("fusions", help="list the fusion methods")
    sub.add_parser("encoders", help="list the encoders")

    p = sub.add_parser("datasets", help="build a built-in dataset from local files")
    dsub = p.add_subparsers(dest="dataset_command", required=True)
    b = dsub.add_parser("build", help="build a dataset table")
    b.add_argument("name", choices=["avdigits", "digits"])
    b.add_argument("--mnist", help="path to mnist.npz (avdigits)")
    b.add_argument("--fsdd", help="path to the FSDD recordings folder (avdigits)")
    b.add_argument("--out", required=True)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--test-speaker", action="append", default=[], help="speaker(s) held out for the test split")
    b.add_argument("--max-rows", type=int)
    return parser


def _version() -> str:
    from polymodal._version import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from polymodal import commands

    handler = getattr(commands, f"cmd_{args.command.replace('-', '_')}")
    try:
        with warnings_as_notices(), notices_printed():
            return int(handler(args) or 0)
    except (PolymodalError, ValueError, TypeError, OSError) as exc:  # the user's input, never a traceback
        err.line(("error:", "bold red"), " ", error_message(exc))
        return 2


@contextlib.contextmanager
def warnings_as_notices() -> Iterator[None]:
    """polymodal's own warnings (:class:`~polymodal.errors.PolymodalWarning`) printed as one ``warning:`` line
    on stderr, without Python's file, line number and source line; every other warning as Python shows it."""
    python_show = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        if issubclass(category, PolymodalWarning):
            err.line(("warning:", "bold yellow"), " ", str(message))
        else:
            python_show(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = python_show


class _NoticeHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        err.line(record.getMessage())


@contextlib.contextmanager
def notices_printed() -> Iterator[None]:
    """What polymodal logs at INFO (the columns of each modality before training, what a transfer did)
    printed on stderr, as plain lines."""
    root = logging.getLogger("polymodal")
    handler, level = _NoticeHandler(logging.INFO), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def error_message(exc: BaseException) -> str:
    """What ``polymodal`` prints after ``error:`` (never markup; see :mod:`polymodal.output`)."""
    from pydantic import ValidationError

    from polymodal.config import describe_validation_error

    if isinstance(exc, ValidationError):
        return describe_validation_error(exc)
    return str(exc) or type(exc).__name__


if __name__ == "__main__":
    raise SystemExit(main())
