"""Noisy two-view MNIST (Wang et al. 2015): CCA, deep CCA (DCCA) and DCCAE features.

Protocol: that of ``benchmarks/noisy_mnist_multiview.py``, whose functions this script imports: the
same two views, the 50,000 / 10,000 / 10,000 split, the linear SVM (averaged SGD, hinge loss, its
``alpha`` tuned on the validation set) trained on the view-1 projections of the training set and
scored on the test set, and spectral clustering (sparse 10-NN affinity) of the 10,000 test
projections scored by Hungarian accuracy and NMI. The CCA row is recomputed with that script's code.

Networks, as in the paper: each view 784-1024-1024-1024-L with L = 10, built from polymodal's own
classes: a ``vector-mlp`` encoder (``num_layers=3, hidden_dim=1024, output_dim=L``) in a
:class:`~polymodal.models.dcca.DCCAModel` (or :class:`~polymodal.models.dccae.DCCAEModel`) with
``head_layers=0``: the encoder's output is the latent, which the model's batch norm without learned
scale only standardises (correlations are unchanged). DCCAE's decoders mirror the encoders
(L-1024-1024-1024-784, ``decoder_layers=3``), squared error summed over pixels, weighted by
``recon_weight`` (the paper's lambda). The objective is :func:`polymodal.losses.dcca_loss`: minus
the sum of all L canonical correlations (the trace norm of Andrew et al. 2013), covariances with a
ridge of ``1e-4`` times their mean variance (the paper's ``r = 1e-4``), computed in float64.

Hidden units are sigmoids, as in the paper (``vector-mlp`` with ``activation="sigmoid"``). With ReLU units
and a constant learning rate of 1e-3 the networks memorised the training pairs (training correlation 9.95
of 10 against 7.7 on validation) and DCCA's features gave 3.6% error (8.4% at batch 500); sigmoid units
learn more slowly and generalise better (3.15% after 30 epochs). DCCAE's reconstruction made the
validation loss jumpy at a constant learning rate of 2e-3; a cosine decay (``lr_schedule="cosine"``)
steadies it. Its weight ``recon_weight=0.01`` was the best of 0.003, 0.01, 0.1 and 1 (3.3%, 3.2%, 4.2% and 7.7%). Runs
of one setting differ by a few tenths of a point (CPU reductions are not bitwise repeatable across
runs under load): a ReLU DCCAE at lr 1e-3 gave 2.9% once and 5.2% when rerun.

Differences from the paper: a LayerNorm on each input (part of ``vector-mlp``), ReLU decoders with linear
outputs (the paper: sigmoid), and AdamW on minibatches of 1,000 (the paper: SGD with momentum) for a
fixed number of epochs; the epoch kept is the one with the lowest validation loss (minus the validation
correlations, plus DCCAE's reconstruction: no labels are used to train or to choose the epoch; the labels
of the validation set only tune the SVM, as for CCA).

Training runs on the library path: :func:`polymodal.engine.trainer.train` (PyTorch Lightning) with
:class:`~polymodal.engine.pretrain_module.PretrainModule`, ``drop_last=True`` so every training
batch holds ``batch_size`` pairs (the covariances of a batch smaller than L would be singular).

Run from the repository root (the committed DCCA and DCCAE rows ran side by side with other runs, one
torch thread each, DCCA 11 min and DCCAE 23 min of training, then ``--merge``)::

    python benchmarks/noisy_mnist_deep.py [--data PATH] [--epochs N] [--quick] [--results DIR]

Writes ``noisy_mnist_deep.md`` and ``.json`` to ``benchmarks/results`` after every row (``--quick``: a
smoke run of a minute or two on a subset, written to a temporary folder unless ``--results`` is
given). ``--methods DCCAE --no-cca --update`` re-measures one row and keeps the others; the results
list every run with its time and the machine's load (other jobs on a shared machine slow training).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from noisy_mnist_multiview import (
    RESULTS,
    Split,
    cca_features,
    clustering_scores,
    default_data_path,
    load_noisy_mnist,
    svm_error,
    tune,
)

from polymodal.bench.docs import write_benchmarks_doc
from polymodal.config import TrainConfig
from polymodal.data.dataset import EncodedData
from polymodal.encoders import build_encoder
from polymodal.engine.pretrain_module import PretrainModule
from polymodal.engine.trainer import TrainResult, train
from polymodal.models.dcca import DCCAModel
from polymodal.models.objectives import OBJECTIVES
from polymodal.storage.atomic import atomic_write_text

VIEWS = ("view1", "view2")
LATENT_DIM = 10
HIDDEN_DIM = 1024
REG = 1e-4
PATIENCE = 1000  # a fixed budget of epochs: the best epoch is kept, training is not cut short
# (linear-SVM test error %, clustering accuracy %, NMI %) in Wang et al. 2015, Table 2 (noisy MNIST);
# the clustering figures are quoted from memory, not checked against the paper
PAPER = {"CCA": (19.6, 72.9, 56.0), "DCCA": (2.9, 97.0, 92.0), "DCCAE": (2.2, 97.5, 93.4)}


@dataclass(frozen=True)
class DeepSetting:
    """How one deep method is trained; ``recon_weight`` > 0 makes it a DCCAE."""

    objective: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    recon_weight: float = 0.0
    hidden_dim: int = HIDDEN_DIM
    dropout: float = 0.0
    reg: float = REG
    n_components: int | None = None  # correlations summed by the objective (None: all LATENT_DIM)
    activation: str = "relu"
    lr_schedule: str = "constant"
    seed: int = 0


SETTINGS = {
    "DCCA": DeepSetting("dcca", epochs=30, batch_size=1000, lr=2e-3, activation="sigmoid"),
    "DCCAE": DeepSetting("dccae", epochs=30, batch_size=1000, lr=2e-3, recon_weight=1e-2, activation="sigmoid",
                         lr_schedule="cosine"),
}
QUICK = {"n_train": 2000, "n_val": 1000, "n_test": 1000, "epochs": 2, "batch_size": 500, "hidden_dim": 64}


def build_model(setting: DeepSetting, dim: int) -> DCCAModel:
    """The paper's two ``dim``-H-H-H-L networks (H = ``setting.hidden_dim``), through polymodal's registries."""
    info = {v: {"kind": "vector", "dim": dim} for v in VIEWS}
    encoders = {v: build_encoder("vector-mlp", info[v], output_dim=LATENT_DIM, hidden_dim=setting.hidden_dim,
                                 num_layers=3, dropout=setting.dropout, activation=setting.activation)
                for v in VIEWS}
    args: dict[str, Any] = {"latent_dim": LATENT_DIM, "hidden_dim": setting.hidden_dim, "reg": setting.reg,
                            "n_components": setting.n_components, "head_layers": 0}
    if setting.objective == "dccae":
        args.update(recon_weight=setting.recon_weight, decoder_layers=3)
    model = OBJECTIVES.create(setting.objective, encoders=encoders, input_info=info, **args)
    if not isinstance(model, DCCAModel):
        raise TypeError(f"objective {setting.objective!r} is not deep CCA; use 'dcca' or 'dccae'")
    return model


def as_encoded(split: Split) -> EncodedData:
    """Both views of every pair, all present."""
    n = len(split[2])
    inputs = {v: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for v, x in zip(VIEWS, split[:2])}
    return EncodedData(inputs, {v: torch.ones(n, dtype=torch.bool) for v in VIEWS}, {}, np.arange(n))


def train_deep(setting: DeepSetting, train_split: Split, val_split: Split,
               run_dir: Path) -> tuple[DCCAModel, TrainResult]:
    """Train on the pairs of ``train_split``; the epoch with the lowest validation loss is kept."""
    model = build_model(setting, train_split[0].shape[1])
    config = TrainConfig(epochs=setting.epochs, batch_size=setting.batch_size, lr=setting.lr,
                         lr_schedule=setting.lr_schedule, weight_decay=setting.weight_decay, patience=PATIENCE,
                         seed=setting.seed, progress=False, drop_last=True)
    module = PretrainModule(model, lr=setting.lr, weight_decay=setting.weight_decay)
    result = train(module, as_encoded(train_split), as_encoded(val_split), config, run_dir)
    return model, result


@torch.no_grad()
def view1_projection(model: DCCAModel, x: np.ndarray, batch: int = 5000) -> np.ndarray:
    """View 1's latent for every row of ``x`` (evaluation mode: the batch norm's running statistics)."""
    model.eval()
    parts = [model.project(VIEWS[0], torch.from_numpy(np.ascontiguousarray(x[i : i + batch], dtype=np.float32)))
             for i in range(0, len(x), batch)]
    return torch.cat(parts).numpy().astype(np.float64)


def deep_features(setting: DeepSetting, train_split: Split, val_split: Split, test_split: Split,
                  run_dir: Path, features_dir: Path | None = None) -> tuple[dict, dict]:
    """Train, project view 1, tune the SVM on validation: ``(chosen settings and training record, features)``;
    with ``features_dir`` the projections are also saved there (``OBJECTIVE.npz``), to try other classifiers."""
    model, result = train_deep(setting, train_split, val_split, run_dir)
    p_train, p_val, p_test = (view1_projection(model, s[0]) for s in (train_split, val_split, test_split))
    (_, alpha), scores = tune({"deep": (p_train, p_val)}, train_split[2], val_split[2])
    best = next((row for row in result.history if row["epoch"] == result.best_epoch), {})
    chosen = {
        **{k: v for k, v in dataclasses.asdict(setting).items() if k != "objective"},
        "dim": LATENT_DIM,
        "svm_alpha": alpha,
        "val_svm_error": scores[("deep", alpha)],
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch + 1,
        "train_seconds": result.train_seconds,
        "val_correlation": best.get("val_correlation"),
        "val_loss": result.best_val_loss,
        "history": result.history,
    }
    print(f"{setting.objective}: {result.epochs_run} epochs in {result.train_seconds:.0f} s, best epoch "
          f"{result.best_epoch + 1}, validation correlation {chosen['val_correlation']}, validation SVM error "
          f"{100 * chosen['val_svm_error']:.2f}%", flush=True)
    if features_dir is not None:
        features_dir.mkdir(parents=True, exist_ok=True)
        np.savez(features_dir / f"{setting.objective}.npz", train=p_train, val=p_val, test=p_test)
    return chosen, {"train": p_train, "test": p_test}


def evaluate(chosen: dict, feats: dict, train_split: Split, test_split: Split, seconds: float) -> dict:
    error = svm_error(feats["train"], train_split[2], feats["test"], test_split[2], chosen["svm_alpha"])
    return {"svm_test_error": error, "clustering": clustering_scores(feats["test"], test_split[2]),
            "chosen": chosen, "fit_and_tune_seconds": seconds}


def run(train_split: Split, val_split: Split, test_split: Split, settings: dict[str, DeepSetting],
        with_cca: bool = True, on_row: Callable[[dict], None] | None = None, previous: dict | None = None,
        features_dir: Path | None = None) -> dict:
    """Every method's row: CCA (when ``with_cca``), then each deep setting by name; ``on_row`` gets the
    results so far after each row (to save them: a long run keeps what it finished). With ``previous``
    results (of the same split sizes) their other rows are kept, and ``runs`` lists every run's rows."""
    start = time.perf_counter()
    sizes = {"n_train": len(train_split[2]), "n_val": len(val_split[2]), "n_test": len(test_split[2])}
    if previous is not None and any(previous.get(k) != v for k, v in sizes.items()):
        raise ValueError(f"the previous results were measured on {[previous.get(k) for k in sizes]} train / "
                         f"validation / test pairs, this run on {list(sizes.values())}: leave out --update")
    results: dict = {**sizes, "methods": dict(previous["methods"]) if previous else {},
                     "runs": _runs(previous) if previous else []}
    this_run: dict = {"methods": [], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                      "torch_threads": torch.get_num_threads()}
    results["runs"].append(this_run)
    builders: dict[str, Any] = {"CCA": cca_features} if with_cca else {}
    builders.update({name: functools.partial(_in_temp_dir, setting, features_dir=features_dir)
                     for name, setting in settings.items()})
    for name, build in builders.items():
        t0 = time.perf_counter()
        chosen, feats = build(train_split, val_split, test_split)
        results["methods"][name] = evaluate(chosen, feats, train_split, test_split, time.perf_counter() - t0)
        print(f"{name}: SVM test error {100 * results['methods'][name]['svm_test_error']:.2f}%", flush=True)
        this_run["methods"].append(name)
        this_run["seconds"] = time.perf_counter() - start
        this_run["load_average_1min"] = os.getloadavg()[0]  # other jobs on the machine slow a run down
        results["total_seconds"] = sum(r.get("seconds", 0.0) for r in results["runs"])
        results["machine"] = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                              "platform": platform.platform(), "torch": torch.__version__}
        results["date"] = time.strftime("%Y-%m-%d", time.gmtime())
        if on_row is not None:
            on_row(results)
    return results


def _runs(previous: dict) -> list[dict]:
    """The runs of ``previous`` results (one, for a file written before runs were listed)."""
    if "runs" in previous:
        return list(previous["runs"])
    return [{"methods": list(previous["methods"]), "date": previous.get("date"),
             "seconds": previous.get("total_seconds", 0.0),
             "load_average_1min": previous.get("machine", {}).get("load_average_1min")}]


def _in_temp_dir(setting: DeepSetting, train_split: Split, val_split: Split, test_split: Split,
                 features_dir: Path | None = None) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory(prefix="noisy-mnist-deep-") as work:
        return deep_features(setting, train_split, val_split, test_split, Path(work), features_dir)


def _paper(name: str, i: int) -> str:
    return f"{PAPER[name][i]:.1f}" if name in PAPER else "n/a"


def to_markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Noisy two-view MNIST: CCA, deep CCA and DCCAE",
        "",
        f"Train {r['n_train']:,} / validation {r['n_val']:,} / test {r['n_test']:,}; view-1 features; "
        f"{m['cpus']} CPU cores (no GPU), torch {m['torch']}, {r['date']}, "
        f"runs of {r['total_seconds'] / 60:.0f} min in all (listed below; some may have run side by side; a "
        "method's row is that of its latest run). "
        "Written by `benchmarks/noisy_mnist_deep.py` (protocol and differences from the paper in its docstring). "
        "Paper: Wang et al. 2015, noisy MNIST table.",
        "",
        *_runs_text(r),
        "| method | dim | linear SVM test error % | paper | clustering acc. % | paper | NMI % | paper "
        "| train time | epochs (best) | batch | lr | chosen |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in r["methods"].items():
        c = row["chosen"]
        deep = "train_seconds" in c
        seconds = c["train_seconds"] if deep else row["fit_and_tune_seconds"]
        epochs = f"{c['epochs_run']} ({c['best_epoch']})" if deep else "n/a"
        shown = {"svm_alpha": c["svm_alpha"], **({"reg": c["reg"]} if "reg" in c else {}),
                 **{k: c[k] for k in ("recon_weight", "weight_decay", "dropout", "n_components") if c.get(k)},
                 **{k: c[k] for k in ("activation", "lr_schedule") if k in c},
                 **({"val SVM error %": 100 * c["val_svm_error"]} if deep else {})}
        lines.append(
            f"| {name} | {c['dim']} | {100 * row['svm_test_error']:.2f} | {_paper(name, 0)} | "
            f"{100 * row['clustering']['accuracy']:.1f} | {_paper(name, 1)} | {100 * row['clustering']['nmi']:.1f} | "
            f"{_paper(name, 2)} | {seconds:.0f} s | {epochs} | {c.get('batch_size', 'n/a')} | {c.get('lr', 'n/a')} | "
            f"{', '.join(f'{k}={v:.3g}' if isinstance(v, float) else f'{k}={v}' for k, v in shown.items())} |"
        )
    lines += [
        "",
        "Train time: the deep networks' training alone (CCA: fitting and tuning). Epochs (best): epochs run, and the",
        "epoch kept (lowest validation loss). The paper's clustering figures are quoted from memory.",
        "",
        *_convergence_text(r),
    ]
    return "\n".join(lines)


def _convergence_text(r: dict) -> list[str]:
    """A line per deep row whose validation loss was still falling at its last epoch."""
    lines = []
    for name, row in r["methods"].items():
        c = row["chosen"]
        if "epochs_run" in c and c["best_epoch"] == c["epochs_run"]:
            history = [h["val_correlation"] for h in c.get("history", []) if "val_correlation" in h]
            trend = f" (validation correlation {history[0]:.2f} after epoch 1, {history[-1]:.2f} after the last)" \
                if len(history) > 1 else ""
            lines.append(f"- {name}: the validation loss was still falling at the last epoch, "
                         f"{c['epochs_run']}{trend}: the run was cut by the time budget, not by convergence.")
    return [*lines, ""] if lines else []


def _runs_text(r: dict) -> list[str]:
    """One line per run: its rows, time and the machine's load (other jobs sharing the cores slow training)."""
    lines = []
    for run_ in _runs(r):
        load, threads = run_.get("load_average_1min"), run_.get("torch_threads")
        load_text = f", 1-min load average {load:.1f} at its end" if load is not None else ""
        threads_text = f", {threads} torch thread(s)" if threads is not None else ""
        lines.append(f"- run of {run_.get('date')}: {', '.join(run_['methods'])}, {run_['seconds'] / 60:.0f} min"
                     f"{threads_text}{load_text}")
    return [*lines, ""]


def _settings(args: argparse.Namespace) -> dict[str, DeepSetting]:
    overrides: dict[str, Any] = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                                  ("lr", args.lr), ("weight_decay", args.weight_decay),
                                                  ("dropout", args.dropout), ("reg", args.reg),
                                                  ("n_components", args.n_components),
                                                  ("activation", args.activation),
                                                  ("lr_schedule", args.lr_schedule)) if v is not None}
    if args.quick:
        overrides = {k: QUICK[k] for k in ("epochs", "batch_size", "hidden_dim")} | overrides
    settings = {name: dataclasses.replace(SETTINGS[name], **overrides) for name in args.methods}
    if args.recon_weight is not None and "DCCAE" in settings:
        settings["DCCAE"] = dataclasses.replace(settings["DCCAE"], recon_weight=args.recon_weight)
    return settings


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_path(), help="the shared data folder")
    parser.add_argument("--epochs", type=int, help="epochs of every deep method (default: its setting's)")
    parser.add_argument("--batch-size", type=int, help="minibatch of every deep method")
    parser.add_argument("--lr", type=float, help="learning rate of every deep method")
    parser.add_argument("--recon-weight", type=float, help="DCCAE's reconstruction weight (lambda)")
    parser.add_argument("--weight-decay", type=float, help="AdamW's (decoupled) weight decay of every deep method")
    parser.add_argument("--dropout", type=float, help="dropout after each hidden layer of every deep method")
    parser.add_argument("--reg", type=float, help="covariance ridge, relative to the mean variance")
    parser.add_argument("--lr-schedule", choices=["constant", "cosine"], help="learning rate over the epochs")
    parser.add_argument("--activation", choices=["relu", "sigmoid", "tanh", "gelu", "silu"],
                        help="hidden units of every deep method (the paper: sigmoid)")
    parser.add_argument("--n-components", type=int, help="canonical correlations the objective sums (default: all)")
    parser.add_argument("--methods", nargs="+", choices=sorted(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--no-cca", action="store_true", help="leave out the CCA row")
    parser.add_argument("--n-train", type=int, default=50_000, help="training pairs (the first N)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 on a machine other jobs load: "
                                                                 "threads waiting for each other waste the cores)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: a small subset, small networks, 2 epochs")
    parser.add_argument("--results", type=Path, help="results folder (default: benchmarks/results; --quick: a "
                                                     "temporary folder)")
    parser.add_argument("--update", action="store_true", help="keep the other rows of the results file there")
    parser.add_argument("--merge", type=Path, nargs="+", help="only add the rows (and runs) of these results files "
                                                              "to the results file; nothing is trained")
    parser.add_argument("--save-features", type=Path, help="save each deep method's view-1 projections here (npz)")
    args = parser.parse_args(argv)
    if args.merge:
        return merge_results(args.results or RESULTS, args.merge)
    torch.set_num_threads(args.threads)
    n_train = QUICK["n_train"] if args.quick else args.n_train
    train_split, val_split, test_split = load_noisy_mnist(args.data, n_train=n_train,
                                                          n_val=QUICK["n_val"] if args.quick else 10_000)
    if args.quick:
        test_split = (test_split[0][: QUICK["n_test"]], test_split[1][: QUICK["n_test"]],
                      test_split[2][: QUICK["n_test"]])
    out = args.results or (Path(tempfile.mkdtemp(prefix="noisy-mnist-deep-quick-")) if args.quick else RESULTS)
    previous = json.loads((out / "noisy_mnist_deep.json").read_text()) if args.update else None
    return run(train_split, val_split, test_split, _settings(args), with_cca=not args.no_cca,
               on_row=functools.partial(write_results, out=out), previous=previous,
               features_dir=args.save_features)


def merge_results(out: Path, others: list[Path]) -> dict:
    """The results file in ``out`` with the rows of ``others`` (separate runs, e.g. one per method run side
    by side) added; a row of the same name is replaced."""
    results = json.loads((out / "noisy_mnist_deep.json").read_text())
    results["runs"] = _runs(results)
    for path in others:
        other = json.loads(Path(path).read_text())
        sizes = ("n_train", "n_val", "n_test")
        if any(other[k] != results[k] for k in sizes):
            raise ValueError(f"{path} was measured on {[other[k] for k in sizes]} train / validation / test pairs, "
                             f"{out} on {[results[k] for k in sizes]}")
        results["methods"].update(other["methods"])
        results["runs"] += _runs(other)
    results["total_seconds"] = sum(r.get("seconds", 0.0) for r in results["runs"])
    write_results(results, out)
    return results


def write_results(results: dict, out: Path) -> None:
    """``noisy_mnist_deep.json`` and ``.md`` in ``out``; in the repository's results folder also docs/benchmarks.md."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "noisy_mnist_deep.json", json.dumps(results, indent=2) + "\n")
    markdown = to_markdown(results)
    atomic_write_text(out / "noisy_mnist_deep.md", markdown)
    if out.resolve() == RESULTS.resolve():
        write_benchmarks_doc(RESULTS, RESULTS.parent.parent / "docs" / "benchmarks.md")
    print(markdown)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
