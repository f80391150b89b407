"""AV-digits: images generated from spoken digits (VAE and conditional GAN), judged by a digit classifier.

Builds AV-digits from the shared data (MNIST images paired with Free Spoken Digit recordings of the same
digit; the test speaker ``theo`` is never heard in training) and trains, on the training rows only:

a. a digit classifier on real images alone (``polymodal.fit``, the audio column ignored);
b. a multimodal VAE of image and audio (``polymodal.pretrain --objective vae``);
c. a conditional GAN audio -> image (``polymodal.pretrain --objective cgan``).

Then it generates an image from every test row's audio with (b) and (c) (``polymodal.generation.generate``)
and reports their *coherence*: the classifier's accuracy on the generated images against the digit of
the source row, next to chance (10%) and the classifier's accuracy on the real test images. Run from the
repository root::

    python benchmarks/avdigits_generation.py [--data ../shared/data] [--max-rows N]

Writes ``benchmarks/results/avdigits_generation.md``, ``.json`` and ``.png`` (real test images and the
images both models generated from the same rows' audio).
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
from avdigits import default_data, ensure_avdigits
from PIL import Image

import polymodal
from polymodal.bench.results import markdown_table
from polymodal.engine.atomic import atomic_write_json, atomic_write_text, atomic_write_with
from polymodal.engine.pretrain import pretrain
from polymodal.evaluation.coherence import coherence_scores, per_class_coherence
from polymodal.generation import generate
from polymodal.predictor import Predictor

RESULTS = Path(__file__).resolve().parent / "results"
ENCODERS = {"image": {"base_channels": 8, "output_dim": 64}, "audio": {"base_channels": 8, "output_dim": 64}}
PREPROCESS = {"audio": {"sample_rate": 8000}}  # FSDD is recorded at 8 kHz: no need to upsample


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L").resize((28, 28)), dtype=np.float64) / 255.0


def judge(classifier: Predictor, index: pd.DataFrame, folder: Path, test: pd.DataFrame, root: Path) -> dict[str, Any]:
    """Coherence of the generated images listed in ``index`` (written in ``folder``), and their mean squared
    error (pixels in [0, 1]) to the real image of the source row."""
    predicted = classifier.predict(folder / "generated.csv")["digit"].to_numpy()
    scores = coherence_scores(predicted, index["digit"].to_numpy(), n_classes=10)
    scores["per_digit"] = per_class_coherence(predicted, index["digit"].to_numpy())
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--work", type=Path,
                        default=Path(os.environ.get("TMPDIR", "/tmp")) / "polymodal-avdigits-generation")
    parser.add_argument("--max-rows", type=int, help="subsample AV-digits (quick runs)")
    parser.add_argument("--classifier-epochs", type=int, default=10)
    parser.add_argument("--vae-epochs", type=int, default=20)
    parser.add_argument("--cgan-epochs", type=int, default=25)
    parser.add_argument("--recon-weight", type=float, default=100.0, help="the cGAN's reconstruction weight")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vae-likelihood", default="sum", help="the VAE's likelihood weighting: sum or balanced")
    parser.add_argument("--vae-beta", type=float, default=1.0, help="the VAE's KL weight")
    parser.add_argument("--models", nargs="+", default=["vae", "cgan"], choices=["vae", "cgan"])
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

    print("training the digit classifier on real images ...", flush=True)
    classifier = polymodal.fit(csv, target="digit", ignore=["audio", "speaker"], epochs=args.classifier_epochs,
                               run_dir=work / "classifier-run", **common)
    real_accuracy = classifier.evaluate(test_csv)["digit"]["accuracy"]
    models: dict[str, dict[str, Any]] = {
        # MMVAE's mixture posterior: each modality's latent alone must reconstruct both (cross-generation)
        "vae": {"objective_args": {"latent_dim": 16, "joint": "moe", "likelihood": args.vae_likelihood,
                                   "beta": args.vae_beta},
                "epochs": args.vae_epochs},
        # pix2pix-style: a strong reconstruction term keeps the samples tied to their source on few steps
        "cgan": {"objective_args": {"source": "audio", "target": "image", "noise_dim": 32, "hidden_dim": 256,
                                    "recon_weight": args.recon_weight}, "epochs": args.cgan_epochs, "lr": 1e-3},
    }
    results: dict[str, dict[str, Any]] = {}
    folders: dict[str, Path] = {}
    for name, options in models.items():
        if name not in args.models:
            continue
        print(f"training the {name} ...", flush=True)
        pretrained = pretrain(csv, name, ignore=["digit", "speaker"], run_dir=work / f"{name}-run",
                              **{**common, **options})
        folders[name] = work / f"{name}-generated"
        began = time.perf_counter()
        index = generate(pretrained, test_csv, source="audio", target="image", out=folders[name], seed=args.seed)
        seconds = time.perf_counter() - began
        seen_index = generate(pretrained, seen_csv, source="audio", target="image", out=work / f"{name}-seen",
                              seed=args.seed)
        seen_scores = judge(classifier, seen_index, work / f"{name}-seen", seen, csv.parent)
        results[name] = {**judge(classifier, index, folders[name], test, csv.parent), "generate_seconds": seconds,
                         "coherence_seen_speakers": seen_scores["coherence"], "n_seen": seen_scores["n"],
                         "train_seconds": pretrained.metrics["train"]["train_seconds"],
                         "epochs": pretrained.metrics["train"]["epochs_run"],
                         "parameters": pretrained.metrics["parameters"], "options": options}
        print(f"{name}: coherence {results[name]['coherence']:.4f}", flush=True)

    grid = args.out.with_suffix(".png")
    example_grid(test, csv.parent, folders, grid)
    classifier_train = classifier.metrics["train"]
    write_results(args, results, real_accuracy, classifier_train, len(frame) - len(test), len(test),
                  time.perf_counter() - start, grid)


def write_results(args: argparse.Namespace, results: dict[str, dict[str, Any]], real_accuracy: float,
                  classifier_train: dict[str, Any], n_train: int, n_test: int, total: float, grid: Path) -> None:
    labels = {"vae": "multimodal VAE (mixture of experts), image from audio",
              "cgan": f"conditional GAN audio -> image (recon_weight {args.recon_weight:g})"}
    rows = [{"generator": "real test images (classifier's accuracy)", "coherence": f"{real_accuracy:.4f}",
             "coherence, training rows' audio": "", "pixel MSE to the real image": "",
             "train s": f"{classifier_train['train_seconds']:.1f}",
             "epochs": str(classifier_train["epochs_run"]), "parameters": ""}]
    rows += [{"generator": labels[name], "coherence": f"{r['coherence']:.4f}",
              "coherence, training rows' audio": f"{r['coherence_seen_speakers']:.4f}",
              "pixel MSE to the real image": f"{r['pixel_mse']:.4f}", "train s": f"{r['train_seconds']:.1f}",
              "epochs": str(r["epochs"]), "parameters": f"{r['parameters']:,}"} for name, r in results.items()]
    rows.append({"generator": "chance (10 digits)", "coherence": f"{0.1:.4f}",
                 "coherence, training rows' audio": f"{0.1:.4f}", "pixel MSE to the real image": "",
                 "train s": "", "epochs": "", "parameters": ""})
    per_digit = pd.DataFrame({"digit": list(next(iter(results.values()))["per_digit"])})
    for name, r in results.items():
        per_digit[name] = [f"{v:.2f}" for v in r["per_digit"].values()]
    text = [
        "# AV-digits: images generated from spoken digits",
        "",
        f"Written by `benchmarks/avdigits_generation.py` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, CPU only); "
        f"total {total:.0f} s.",
        "",
        f"Data: AV-digits from `{args.data}`{f' (subsample of {args.max_rows} rows)' if args.max_rows else ''}: "
        f"{n_train} training rows (a stratified part held out for validation), {n_test} test rows spoken by "
        "`theo`, a speaker never heard in training. Every model trains on the training rows only. The "
        f"classifier (image CNN, {classifier_train['epochs_run']} epochs) sees real images only. Each generator "
        "makes one image from each test row's audio alone; its *coherence* is the classifier's accuracy on "
        "those images against the row's digit. The second coherence column generates from every fifth "
        "training row (voices heard in training): it separates generation quality from generalisation "
        "to a new voice. Seed "
        f"{args.seed}; small encoders (8 base channels, 64 features), audio at 8 kHz.",
        "",
        markdown_table(pd.DataFrame(rows)),
        "",
        "Coherence per digit (share of the images generated from a spoken digit that the classifier reads "
        "as that digit):",
        "",
        markdown_table(per_digit),
        "",
        "The classifier never saw a blurred or low-contrast digit: an image that averages the digits a "
        "sound could be is out of its training distribution, so coherence rewards sharp, recognisable "
        "samples, not only samples that depend on their source. The pixel error rewards the opposite "
        "(the average is closest to every candidate).",
        "",
        f"Examples: `benchmarks/results/{grid.name}` (rows: digits 0-9; blocks of four: real test images, then "
        + ", then ".join(f"{name}" for name in results) + " images generated from the same rows' audio).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(text))
    atomic_write_json(args.out.with_suffix(".json"), json.loads(json.dumps({
        "real_test_accuracy": real_accuracy, "classifier_train": classifier_train, "generators": results,
        "n_train": n_train, "n_test": n_test, "max_rows": args.max_rows, "seed": args.seed, "total_seconds": total,
    }, default=float)))
    print("\n".join(text))


if __name__ == "__main__":
    main()
