"""AV-digits representations: contrastive image-audio pretraining, retrieval, probes and transfer.

Builds AV-digits from the shared data (MNIST images paired with Free Spoken Digit recordings of the
same digit; speaker ``theo`` is the test split) and measures:

1. **Pretraining** (``polymodal.pretrain`` on the training rows, labels unused; the ``contrastive``
   objective with a fixed temperature of 0.2 and with the default learnable one, optionally ``dcca`` and
   ``vae`` for comparison, see ``--representations``): cross-modal retrieval on the test rows,
   audio -> image and image -> audio, label-level (a hit is any gallery item of the query's digit):
   recall@1/5/10 and median rank, with the chance level of a random ranking beside them; linear-probe
   accuracy (logistic regression on the frozen embeddings: joint, image only, audio only).
2. **Transfer with 10% of the labels**: ``polymodal.fit`` on a stratified, seeded 10% of the training
   rows, from scratch and ``init_from`` the contrastive bundle (fine-tuned and ``freeze``), test
   accuracy on the test split, mean ± std over seeds (each seed draws its own 10%).
3. **Data-level transfer** (``projection`` objective): an image classifier trained on the image column
   alone gives an image space; the audio encoder learns, from the paired training rows (no labels), to
   map a recording into that space; then audio -> image retrieval on the test rows.

Run from the repository root (about 25 minutes on 2 CPU cores)::

    OMP_NUM_THREADS=1 python benchmarks/avdigits_representation.py [--data ../shared/data]

Writes ``benchmarks/results/avdigits_representation.md`` and ``.json`` (atomically).
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
from avdigits import add_data_arguments, ensure_avdigits

import polymodal
from polymodal.bench.docs import write_benchmarks_doc
from polymodal.engine.pretrain import pretrain
from polymodal.evaluation.retrieval import cross_modal_retrieval, linear_probe
from polymodal.pretrained import PretrainedModel
from polymodal.storage.atomic import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent
KS = (1, 5, 10)
# representation name -> (objective, its arguments). "contrastive" is the one transferred: a fixed temperature of
# 0.2, because AV-digits pairs are made by label, so about a tenth of each batch are same-digit "negatives" that a
# sharp temperature pushes apart (the default, learnable from 0.07, is measured beside it as "contrastive-t0.07")
REPRESENTATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "contrastive": ("contrastive", {"temperature": 0.2, "learn_temperature": False}),
    "contrastive-t0.07": ("contrastive", {}),
    "dcca": ("dcca", {"latent_dim": 10}),
    "vae": ("vae", {}),
}


def chance_retrieval(labels: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """recall@k and median rank of the first hit under a uniformly random ranking of the gallery (the
    query's own label count among ``labels``; the gallery is every row)."""
    n = len(labels)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    hits = counts[inverse].astype(np.float64)  # per query, the gallery items of its label

    def miss_all(r: int) -> np.ndarray:  # P(no hit among the first r), per query
        out = np.ones(n)
        for i in range(r):
            out *= np.clip((n - hits - i) / (n - i), 0.0, None)
        return out

    result = {f"recall@{k}": float(1.0 - miss_all(k).mean()) for k in ks}
    rank = next(r for r in range(1, n + 1) if 1.0 - miss_all(r).mean() >= 0.5)
    result["median_rank"] = float(rank)
    return result


def stratified_fraction(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Positions of a stratified random ``fraction`` of ``labels`` (at least 2 per class), sorted."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        chosen.append(rng.choice(rows, size=max(2, round(fraction * len(rows))), replace=False))
    return np.sort(np.concatenate(chosen))


def score_representation(pre: PretrainedModel, table: Path, test_csv: Path, frame: pd.DataFrame,
                         small: np.ndarray) -> dict[str, Any]:
    """Retrieval both ways on the test rows; linear probes on all and on ``small`` training rows."""
    out: dict[str, Any] = {}
    for query, gallery in (("audio", "image"), ("image", "audio")):
        out[f"{query}->{gallery}"] = cross_modal_retrieval(pre, test_csv, query, gallery, label_column="digit", ks=KS)
    data = pre.encode_table(table)
    labels = frame["digit"].to_numpy()
    is_test = (frame["split"] == "test").to_numpy()
    train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    probes: dict[str, Any] = {}
    for name, modalities in (("joint", None), ("image", ["image"]), ("audio", ["audio"])):
        z = pre.embed(data, modalities=modalities)
        probes[name] = linear_probe(z[train], labels[train], z[test], labels[test])["accuracy"]
        if name == "joint":
            probes["joint, 10% labels"] = linear_probe(z[train[small]], labels[train[small]], z[test],
                                                       labels[test])["accuracy"]
    out["linear_probe"] = probes
    return out


def run_pretraining(names: list[str], table: Path, test_csv: Path, frame: pd.DataFrame, work: Path,
                    epochs: int, small: np.ndarray) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        start = time.perf_counter()
        objective, objective_args = REPRESENTATIONS[name]
        pre = pretrain(table, objective, ignore=["digit", "speaker"], split_column="split", epochs=epochs,
                       objective_args=objective_args, out=work / f"pretrained-{name}", run_dir=work / f"run-{name}",
                       progress=False, seed=0)
        train = pre.metrics["train"]
        scores = score_representation(pre, table, test_csv, frame, small)
        results[name] = {**scores, "objective": objective, "objective_args": objective_args,
                         "train_seconds": train["train_seconds"], "epochs_run": train["epochs_run"],
                         "best_epoch": train["best_epoch"], "wall_seconds": time.perf_counter() - start,
                         "parameters": pre.metrics["parameters"]}
        print(f"{name}: {results[name]}", flush=True)
    return results


def run_transfer(table: Path, frame: pd.DataFrame, bundle: Path, work: Path, seeds: list[int], fraction: float,
                 epochs: int, patience: int) -> list[dict[str, Any]]:
    """Each seed: a stratified ``fraction`` of the training rows (and every test row) in a table of its
    own, fitted from scratch, from ``bundle`` fine-tuned, and from ``bundle`` frozen."""
    train_rows = np.flatnonzero((frame["split"] != "test").to_numpy())
    test_rows = np.flatnonzero((frame["split"] == "test").to_numpy())
    variants = [("from scratch", {}), ("init-from contrastive, fine-tuned", {"init_from": str(bundle)}),
                ("init-from contrastive, frozen encoders", {"init_from": str(bundle), "freeze": True})]
    runs = []
    for seed in seeds:
        picked = train_rows[stratified_fraction(frame["digit"].to_numpy()[train_rows], fraction, seed)]
        subset = table.with_name(f"fraction{round(fraction * 100)}_seed{seed}.csv")  # beside the table: paths resolve
        frame.iloc[np.concatenate([picked, test_rows])].to_csv(subset, index=False)
        for name, options in variants:
            predictor = polymodal.fit(subset, target="digit", ignore=["speaker"], split_column="split", epochs=epochs,
                                      patience=patience, seed=seed, progress=False,
                                      run_dir=work / f"fit-{seed}-{len(runs)}", **options)
            m = predictor.metrics
            runs.append({"method": name, "seed": seed, "n_labelled": len(picked),
                         "test_accuracy": m["test"]["digit"]["accuracy"],
                         "test_macro_f1": m["test"]["digit"].get("macro_f1", float("nan")),
                         "train_seconds": m["train"]["train_seconds"], "epochs_run": m["train"]["epochs_run"],
                         "trainable_parameters": sum(p.numel() for p in predictor.model.parameters()
                                                     if p.requires_grad)})
            print(runs[-1], flush=True)
    return runs


def run_projection(table: Path, test_csv: Path, work: Path, fit_epochs: int, epochs: int) -> dict[str, Any]:
    """Image space of an image-only classifier; audio mapped into it by the ``projection`` objective."""
    start = time.perf_counter()
    image_model = work / "image-classifier"
    image = polymodal.fit(table, target="digit", ignore=["speaker", "audio"], split_column="split",
                          epochs=fit_epochs, progress=False, out=image_model, run_dir=work / "run-image", seed=0)
    image_seconds = time.perf_counter() - start
    pre = pretrain(table, "projection", ignore=["digit", "speaker"], split_column="split", epochs=epochs,
                   objective_args={"target": "image"}, init_from=str(image_model), out=work / "projection",
                   run_dir=work / "run-projection", progress=False, seed=0)
    return {
        "image_classifier_test_accuracy": image.metrics["test"]["digit"]["accuracy"],
        "image_classifier_train_seconds": image.metrics["train"]["train_seconds"],
        "image_classifier_wall_seconds": image_seconds,
        "projection_train_seconds": pre.metrics["train"]["train_seconds"],
        "projection_epochs_run": pre.metrics["train"]["epochs_run"],
        "audio->image": cross_modal_retrieval(pre, test_csv, "audio", "image", label_column="digit", ks=KS),
        "image->audio": cross_modal_retrieval(pre, test_csv, "image", "audio", label_column="digit", ks=KS),
    }


def _fmt_retrieval(scores: dict[str, float]) -> list[str]:
    return [f"{scores[f'recall@{k}']:.3f}" for k in KS] + [f"{scores['median_rank']:.0f}"]


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]


def render(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        "# AV-digits: contrastive pretraining, retrieval, linear probes and transfer with 10% of the labels",
        "",
        f"Written by `benchmarks/avdigits_representation.py` on {meta['date']} ({meta['machine']}, "
        f"{meta['cpus']} CPU cores, CPU only); total {meta['total_seconds']:.0f} s.",
        "",
        f"Data: AV-digits built from `{meta['data']}`: {meta['n_train']} training rows, {meta['n_test']} test rows "
        "spoken by `theo`, a speaker never heard in training. Default encoders (image CNN, log-mel spectrogram "
        f"CNN). Pretraining: {meta['pretrain_epochs']} epochs at most (early stopping on a validation split of "
        "the training rows), labels unused. `contrastive` is the symmetric InfoNCE with a fixed temperature of 0.2; "
        "`contrastive-t0.07` is the same with the default temperature (learnable, from 0.07). Pairs are made by "
        "label here, so about a tenth of each batch are same-digit pairs counted as negatives, which a sharp "
        "temperature pushes apart: the softer one clusters digits better (compare the two rows).",
        "",
        "## Cross-modal retrieval on the test rows (label level)",
        "",
        "A hit is any gallery item of the query's digit; the gallery is every test row. Chance is a uniformly "
        "random ranking of the same gallery.",
        "",
    ]
    header = ["representation", "direction", "recall@1", "recall@5", "recall@10", "median rank"]
    rows = []
    for objective, res in report["pretraining"].items():
        for direction in ("audio->image", "image->audio"):
            rows.append([objective, direction.replace("->", " → "), *_fmt_retrieval(res[direction])])
    if report.get("projection"):
        rows.append(["projection of audio into an image classifier's space (learnt with labels)", "audio → image",
                     *_fmt_retrieval(report["projection"]["audio->image"])])
    rows.append(["chance", "either", *_fmt_retrieval(report["chance"])])
    lines += _md_table(header, rows)
    lines += ["", "## Linear probes on frozen embeddings", "",
              "Logistic regression (standardised inputs) trained on the training rows' embeddings, scored on the "
              "test rows. The last column trains it on the same 10% of labels as the transfer below (seed "
              f"{meta['seeds'][0]}).", ""]
    header = ["representation", "joint", "image only", "audio only", "joint, 10% labels", "pretrain s", "epochs"]
    rows = [[obj, *(f"{res['linear_probe'][k]:.4f}" for k in ("joint", "image", "audio", "joint, 10% labels")),
             f"{res['train_seconds']:.0f}", str(res["epochs_run"])] for obj, res in report["pretraining"].items()]
    lines += _md_table(header, rows)
    summary = report["transfer_summary"]
    lines += ["", f"## Transfer with {meta['fraction']:.0%} of the labels", "",
              f"`polymodal.fit` (concat fusion, {meta['fit_epochs']} epochs at most, early stopping with patience "
              f"{meta['patience']}) on a stratified "
              f"{meta['fraction']:.0%} of the training rows ({summary[0]['n_labelled']} labelled rows, of which a "
              "fifth validates), drawn again for each seed; test accuracy on the test split, mean ± standard "
              f"deviation over seeds {meta['seeds']}. `init-from` starts the image and audio encoders (and their "
              "preprocessing) from the contrastive bundle above; `frozen` keeps them fixed (`--freeze`).", ""]
    header = ["method", "runs", "test accuracy", "test macro-F1", "train s", "trainable parameters"]
    rows = [[s["method"], str(s["runs"]), f"{s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f}",
             f"{s['macro_f1_mean']:.4f} ± {s['macro_f1_std']:.4f}", f"{s['train_seconds_mean']:.1f}",
             f"{s['trainable_parameters']:,}"] for s in summary]
    lines += _md_table(header, rows)
    scratch = next(s for s in summary if s["method"] == "from scratch")
    verdicts = [f"{s['method']} {'beats' if s['accuracy_mean'] > scratch['accuracy_mean'] else 'does not beat'} "
                f"scratch by {s['accuracy_mean'] - scratch['accuracy_mean']:+.4f}"
                for s in summary if s is not scratch]
    lines += ["", "; ".join(verdicts) + "."]
    if report.get("projection"):
        p = report["projection"]
        lines += ["", "## Data-level transfer: projecting audio into a pretrained image space", "",
                  f"An image-only classifier (`fit` on the image column alone, with every training label: unlike "
                  f"the contrastive rows above, this space was learnt with labels; test accuracy "
                  f"{p['image_classifier_test_accuracy']:.4f}, {p['image_classifier_train_seconds']:.0f} s) gives an "
                  "image space (its encoder's output). The `projection` objective (`pretrain --init-from` that "
                  "classifier, target `image`, frozen) then trains a fresh audio encoder and a linear map on the "
                  "paired training rows, no labels, so that a recording lands next to its image "
                  f"({p['projection_epochs_run']} epochs, {p['projection_train_seconds']:.0f} s). Retrieval on the "
                  "test rows, as above:", ""]
        rows = [[d.replace("->", " → "), *_fmt_retrieval(p[d])] for d in ("audio->image", "image->audio")]
        rows.append(["chance", *_fmt_retrieval(report["chance"])])
        lines += _md_table(["direction", "recall@1", "recall@5", "recall@10", "median rank"], rows)
    return "\n".join(lines) + "\n"


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    frame = pd.DataFrame(runs)
    out = []
    for method, group in frame.groupby("method", sort=False):
        out.append({"method": method, "runs": len(group), "n_labelled": int(group["n_labelled"].iloc[0]),
                    "accuracy_mean": float(group["test_accuracy"].mean()),
                    "accuracy_std": float(group["test_accuracy"].std(ddof=1)) if len(group) > 1 else 0.0,
                    "macro_f1_mean": float(group["test_macro_f1"].mean()),
                    "macro_f1_std": float(group["test_macro_f1"].std(ddof=1)) if len(group) > 1 else 0.0,
                    "train_seconds_mean": float(group["train_seconds"].mean()),
                    "trainable_parameters": int(group["trainable_parameters"].iloc[0])})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser, "polymodal-avdigits-representation")
    parser.add_argument("--representations", nargs="+", default=["contrastive", "contrastive-t0.07"],
                        choices=sorted(REPRESENTATIONS),
                        help="pretrained representations to score (the first must be contrastive: it is transferred)")
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--fit-epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=10,
                        help="early stopping of the 10%%-label fits; from scratch, the validation loss often rises "
                             "for the first 4-5 epochs before it falls")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--no-projection", action="store_true", help="skip the data-level transfer section")
    parser.add_argument("--out", type=Path, default=RESULTS / "avdigits_representation")
    args = parser.parse_args()
    if args.representations[0] != "contrastive":
        raise SystemExit("the first representation must be contrastive (its bundle is the one transferred)")

    start = time.perf_counter()
    table = ensure_avdigits(args.data, args.work / "avdigits", args.max_rows)
    frame = pd.read_csv(table)
    test_csv = table.with_name("test_rows.csv")  # beside the table, so that the image paths resolve
    frame[frame["split"] == "test"].to_csv(test_csv, index=False)
    train_labels = frame.loc[frame["split"] != "test", "digit"].to_numpy()
    small = stratified_fraction(train_labels, args.fraction, args.seeds[0])

    report: dict[str, Any] = {"chance": chance_retrieval(frame.loc[frame["split"] == "test", "digit"].to_numpy())}
    report["pretraining"] = run_pretraining(args.representations, table, test_csv, frame, args.work,
                                            args.pretrain_epochs, small)
    runs = run_transfer(table, frame, args.work / "pretrained-contrastive", args.work, args.seeds, args.fraction,
                        args.fit_epochs, args.patience)
    report["transfer_runs"], report["transfer_summary"] = runs, summarise(runs)
    if not args.no_projection:
        report["projection"] = run_projection(table, test_csv, args.work, 10, args.pretrain_epochs)
    report["meta"] = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "data": str(args.data), "n_train": int((frame["split"] != "test").sum()),
        "n_test": int((frame["split"] == "test").sum()), "pretrain_epochs": args.pretrain_epochs,
        "fit_epochs": args.fit_epochs, "patience": args.patience, "seeds": args.seeds, "fraction": args.fraction,
        "representations": {n: REPRESENTATIONS[n] for n in args.representations},
        "total_seconds": time.perf_counter() - start,
    }
    text = render(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out.with_suffix(".json"), report)
    atomic_write_text(args.out.with_suffix(".md"), text)
    if args.out.parent == RESULTS:
        write_benchmarks_doc(RESULTS, REPO / "docs" / "benchmarks.md")
    print(text)


if __name__ == "__main__":
    main()
