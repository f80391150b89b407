"""AV-digits: images generated from spoken digits (VAE and conditional GAN), judged by digit classifiers.

Builds AV-digits from the shared data (MNIST images paired with Free Spoken Digit recordings of the same
digit; the test speaker ``theo`` is never heard in training) and trains, on the training rows only:

a. two judges: digit classifiers on real images alone (``polymodal.fit``, the audio column ignored), one
   plain and one trained with blurred copies as well (``augment={"image": {"blur": ...}}``);
b. a contrastive image-audio bundle (``polymodal.pretrain --objective contrastive``, labels unused);
c. a multimodal VAE of image and audio (``--objective vae``), from scratch and from (b)'s frozen encoders
   (``--init-from (b) --freeze``);
d. a conditional GAN audio -> image (``--objective cgan``), from scratch and from (b)'s frozen encoders.

Then it generates an image from every test row's audio with each generator
(``polymodal.generation.generate``) and reports their *coherence*: each judge's accuracy on the generated
images against the digit of the source row, next to chance (10%) and the judges' accuracy on the real test
images. Run from the repository root::

    python benchmarks/avdigits_generation.py [--data ../shared/data] [--max-rows N] [--models ...]

Writes ``benchmarks/results/avdigits_generation.md``, ``.json`` and ``.png`` (real test images and the
images each generator made from the same rows' audio).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from avdigits import add_data_arguments, ensure_avdigits
from PIL import Image

import polymodal
from polymodal.bench.results import markdown_table
from polymodal.engine.pretrain import pretrain
from polymodal.evaluation.coherence import coherence_scores, per_class_coherence
from polymodal.generation import generate
from polymodal.predictor import Predictor
from polymodal.storage.atomic import atomic_write_json, atomic_write_text, atomic_write_with

RESULTS = Path(__file__).resolve().parent / "results"
ENCODERS = {"image": {"base_channels": 8, "output_dim": 64}, "audio": {"base_channels": 8, "output_dim": 64}}
PREPROCESS = {"audio": {"sample_rate": 8000}}  # FSDD is recorded at 8 kHz: no need to upsample


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L").resize((28, 28)), dtype=np.float64) / 255.0


def judge(classifiers: dict[str, Predictor], index: pd.DataFrame, folder: Path, test: pd.DataFrame,
          root: Path) -> dict[str, Any]:
    """Coherence of the generated images listed in ``index`` (written in ``folder``) by each judge, per digit
    by the first, and their mean squared error (pixels in [0, 1]) to the real image of the source row."""
    digits = index["digit"].to_numpy()
    predicted = {name: c.predict(folder / "generated.csv")["digit"].to_numpy() for name, c in classifiers.items()}
    scores: dict[str, Any] = {name: coherence_scores(p, digits, n_classes=10) for name, p in predicted.items()}
    scores["per_digit"] = per_class_coherence(next(iter(predicted.values())), digits)
    errors = [np.mean((pixels(folder / p) - pixels(root / test["image"][r])) ** 2)
              for r, p in zip(index["row"], index["image"], strict=True)]
    scores["pixel_mse"] = float(np.mean(errors))
    return scores


def example_grid(table: pd.DataFrame, root: Path, folders: dict[str, Path], out: Path, per_digit: int = 4) -> None:
    """Rows: digits 0-9; blocks of ``per_digit`` columns: the real test images, then each model's images
    generated from the same rows' audio."""
    blocks = {"real": (root, table["image"])}
    for name, folder in folders.items():
        index = pd.read_csv(folder / "generated.csv").set_index("row")
        blocks[name] = (folder, index["image"])
    side, gap = 28, 6
    width = len(blocks) * (per_digit * side + gap)
    canvas = np.full((10 * side, width), 255, dtype=np.uint8)
    for digit in range(10):
        rows = table.index[table["digit"] == digit][:per_digit]
        for b, (folder, paths) in enumerate(blocks.values()):
            for j, row in enumerate(rows):
                pixels = np.asarray(Image.open(folder / paths[row]).convert("L").resize((side, side)))
                x = b * (per_digit * side + gap) + j * side
                canvas[digit * side:(digit + 1) * side, x:x + side] = pixels
    image = Image.fromarray(canvas).resize((width * 2, 20 * side), Image.Resampling.NEAREST)
    atomic_write_with(out, lambda tmp: image.save(tmp, format="PNG"))


# the judges: digit classifiers trained on real images only. A generator that cannot know a sample's style
# (pairs are made by digit, not by instance) draws a blurred digit; the plain judge never saw one and reads
# most of them as 8, the second judge is trained with blurred copies of the real images as well.
JUDGES: dict[str, dict[str, Any]] = {"blur-trained judge": {"image": {"blur": {"sigma": [0.5, 2.5], "p": 0.5}}},
                                     "plain judge": {}}
CONTRASTIVE = {"temperature": 0.2, "learn_temperature": False}
LABELS = {"vae": "multimodal VAE (mixture of experts), from scratch",
          "vae-contrastive": "multimodal VAE (mixture of experts), encoders from the contrastive bundle (frozen)",
          "cgan": "conditional GAN audio -> image, from scratch",
          "cgan-contrastive": "conditional GAN audio -> image, encoders from the contrastive bundle (frozen)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser, "polymodal-avdigits-generation")
    parser.add_argument("--classifier-epochs", type=int, default=10)
    parser.add_argument("--contrastive-epochs", type=int, default=15)
    parser.add_argument("--vae-epochs", type=int, default=20)
    parser.add_argument("--cgan-epochs", type=int, default=25)
    parser.add_argument("--recon-weight", type=float, default=100.0, help="the cGAN's reconstruction weight")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vae-likelihood", default="sum", help="the VAE's likelihood weighting: sum or balanced")
    parser.add_argument("--vae-beta", type=float, default=1.0, help="the VAE's KL weight")
    parser.add_argument("--models", nargs="+", default=list(LABELS), choices=list(LABELS))
    parser.add_argument("--out", type=Path, default=RESULTS / "avdigits_generation")
    args = parser.parse_args()

    start = time.perf_counter()
    csv = ensure_avdigits(args.data, args.work, args.max_rows)
    frame = pd.read_csv(csv)
    test_csv = csv.with_name("avdigits_test_rows.csv")  # next to the table: the image paths resolve
    test = frame[frame["split"] == "test"].reset_index(drop=True)
    atomic_write_text(test_csv, test.to_csv(index=False))
    seen_csv = csv.with_name("avdigits_seen_rows.csv")  # training rows: voices heard in training
    seen = frame[frame["split"] == "train"].iloc[::5].reset_index(drop=True)
    atomic_write_text(seen_csv, seen.to_csv(index=False))
    work = csv.parent / "generation"
    common: dict[str, Any] = {"split_column": "split", "encoder_args": ENCODERS, "preprocess": PREPROCESS,
                              "seed": args.seed, "progress": False}

    judges: dict[str, Predictor] = {}
    judge_records: dict[str, dict[str, Any]] = {}
    for name, augment in JUDGES.items():
        print(f"training the {name} on real images ...", flush=True)
        judges[name] = polymodal.fit(csv, target="digit", ignore=["audio", "speaker"], epochs=args.classifier_epochs,
                                     augment=augment, run_dir=work / f"{name.replace(' ', '-')}-run", **common)
        judge_records[name] = {"real_test_accuracy": judges[name].evaluate(test_csv)["digit"]["accuracy"],
                               "augment": augment, **judges[name].metrics["train"]}
    contrastive: dict[str, Any] = {}
    if any(name.endswith("-contrastive") for name in args.models):
        print("pretraining the contrastive bundle (labels unused) ...", flush=True)
        bundle = work / "contrastive"
        pre = pretrain(csv, "contrastive", ignore=["digit", "speaker"], epochs=args.contrastive_epochs,
                       objective_args=CONTRASTIVE, run_dir=work / "contrastive-run", out=bundle, **common)
        contrastive = {"objective_args": CONTRASTIVE, "train_seconds": pre.metrics["train"]["train_seconds"],
                       "epochs": pre.metrics["train"]["epochs_run"]}
    transfer = {"init_from": str(work / "contrastive"), "freeze": True}
    vae = {"objective_args": {"latent_dim": 16, "joint": "moe", "likelihood": args.vae_likelihood,
                              "beta": args.vae_beta}, "epochs": args.vae_epochs}
    # pix2pix-style: a strong reconstruction term keeps the samples tied to their source on few steps
    cgan = {"objective_args": {"source": "audio", "target": "image", "noise_dim": 32, "hidden_dim": 256,
                               "recon_weight": args.recon_weight}, "epochs": args.cgan_epochs, "lr": 1e-3}
    models: dict[str, tuple[str, dict[str, Any]]] = {
        # MMVAE's mixture posterior: each modality's latent alone must reconstruct both (cross-generation)
        "vae": ("vae", vae), "vae-contrastive": ("vae", {**vae, **transfer}),
        "cgan": ("cgan", cgan), "cgan-contrastive": ("cgan", {**cgan, **transfer}),
    }
    results: dict[str, dict[str, Any]] = {}
    folders: dict[str, Path] = {}
    for name in args.models:
        objective, options = models[name]
        print(f"training the {name} ...", flush=True)
        pretrained = pretrain(csv, objective, ignore=["digit", "speaker"], run_dir=work / f"{name}-run",
                              **{**common, **options})
        folders[name] = work / f"{name}-generated"
        began = time.perf_counter()
        index = generate(pretrained, test_csv, source="audio", target="image", out=folders[name], seed=args.seed)
        seconds = time.perf_counter() - began
        seen_index = generate(pretrained, seen_csv, source="audio", target="image", out=work / f"{name}-seen",
                              seed=args.seed)
        results[name] = {"test": judge(judges, index, folders[name], test, csv.parent),
                         "seen": judge(judges, seen_index, work / f"{name}-seen", seen, csv.parent),
                         "generate_seconds": seconds,
                         "train_seconds": pretrained.metrics["train"]["train_seconds"],
                         "epochs": pretrained.metrics["train"]["epochs_run"],
                         "parameters": pretrained.metrics["parameters"], "objective": objective, "options": options}
        print(f"{name}: coherence {[results[name]['test'][j]['coherence'] for j in JUDGES]}", flush=True)

    grid = args.out.with_suffix(".png")
    example_grid(test, csv.parent, folders, grid)
    write_results(args, results, judge_records, contrastive, len(frame) - len(test), len(test),
                  time.perf_counter() - start, grid)


def write_results(args: argparse.Namespace, results: dict[str, dict[str, Any]], judges: dict[str, dict[str, Any]],
                  contrastive: dict[str, Any], n_train: int, n_test: int, total: float, grid: Path) -> None:
    first = next(iter(judges))
    columns = [f"coherence ({j})" for j in judges] + [f"coherence, training rows' audio ({first})"]

    def row(generator: str, test: list[str], seen: str, mse: str = "", seconds: str = "", epochs: str = "",
            parameters: str = "") -> dict[str, str]:
        return {"generator": generator, **dict(zip(columns, [*test, seen], strict=True)),
                "pixel MSE to the real image": mse, "train s": seconds, "epochs": epochs, "parameters": parameters}

    rows = [row("real test images (the judges' accuracy)",
                [f"{judges[j]['real_test_accuracy']:.4f}" for j in judges], "",
                seconds=" / ".join(f"{judges[j]['train_seconds']:.1f}" for j in judges),
                epochs=str(judges[first]["epochs_run"]))]
    rows += [row(LABELS[name] + (f" (recon_weight {args.recon_weight:g})" if r["objective"] == "cgan" else ""),
                 [f"{r['test'][j]['coherence']:.4f}" for j in judges], f"{r['seen'][first]['coherence']:.4f}",
                 f"{r['test']['pixel_mse']:.4f}", f"{r['train_seconds']:.1f}", str(r["epochs"]),
                 f"{r['parameters']:,}") for name, r in results.items()]
    rows.append(row("chance (10 digits)", [f"{0.1:.4f}"] * len(judges), f"{0.1:.4f}"))
    per_digit = pd.DataFrame({"digit": list(next(iter(results.values()))["test"]["per_digit"])})
    for name, r in results.items():
        per_digit[name] = [f"{v:.2f}" for v in r["test"]["per_digit"].values()]
    contrastive_text = (
        f" The contrastive bundle (symmetric InfoNCE, fixed temperature {CONTRASTIVE['temperature']}, "
        f"{contrastive['epochs']} epochs, {contrastive['train_seconds']:.0f} s) is pretrained on the training "
        "rows' image and audio, labels unused; the `-contrastive` generators start from its encoders, frozen, "
        "and train only their posteriors or generator and discriminator heads (`init_from=..., freeze=True`)."
        if contrastive else "")
    text = [
        "# AV-digits: images generated from spoken digits",
        "",
        f"Written by `benchmarks/avdigits_generation.py` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, CPU only); "
        f"total {total:.0f} s.",
        "",
        f"Data: AV-digits from `{args.data}`{f' (subsample of {args.max_rows} rows)' if args.max_rows else ''}: "
        f"{n_train} training rows (a stratified part held out for validation), {n_test} test rows spoken by "
        "`theo`, a speaker never heard in training. Every model trains on the training rows only. "
        "Each generator makes one image from each test row's audio alone; its *coherence* is a judge's "
        "accuracy on those images against the row's digit. The judges are digit classifiers (image CNN, "
        f"{judges[first]['epochs_run']} epochs) trained with polymodal on the real training images only: the "
        "*plain judge* on them as they are, the *blur-trained judge* with a random Gaussian blur "
        "(`augment={'image': {'blur': ...}}`, sigma 0.5-2.5 pixels, half the images) as well. The last coherence "
        "column generates from every fifth training row (voices heard in training): it separates generation "
        "quality from generalisation to a new voice." + contrastive_text + f" Seed {args.seed}; small encoders "
        "(8 base channels, 64 features), audio at 8 kHz.",
        "",
        markdown_table(pd.DataFrame(rows)),
        "",
        f"Coherence per digit ({first}; share of the images generated from a spoken digit that it reads as that "
        "digit):",
        "",
        markdown_table(per_digit),
        "",
        "Pairs are made by digit, not by instance: nothing in a recording tells which of the digit's "
        "handwritings it was paired with, so a generator that gets the digit right still draws an average of "
        "its handwritings, a blurred digit. The plain judge never saw a blurred digit and reads most of them as "
        "8, whatever they show; the blur-trained judge reads real images as well as the plain one and reads "
        "blurred digits too. The pixel error rewards the average (it is closest to every candidate).",
        "",
        f"Examples: `benchmarks/results/{grid.name}` (rows: digits 0-9; blocks of four: real test images, then "
        + ", then ".join(f"{name}" for name in results) + " images generated from the same rows' audio).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(text))
    atomic_write_json(args.out.with_suffix(".json"), json.loads(json.dumps({
        "judges": judges, "contrastive": contrastive, "generators": results, "n_train": n_train, "n_test": n_test,
        "max_rows": args.max_rows, "seed": args.seed, "total_seconds": total,
    }, default=float)))
    print("\n".join(text))


if __name__ == "__main__":
    main()
