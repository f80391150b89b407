"""AV-digits: MNIST images paired with spoken digits from the Free Spoken Digit Dataset (FSDD).

Each FSDD recording (``{digit}_{speaker}_{index}.wav``) is paired with ``n_per_clip`` MNIST images of
the same digit, as MultiBench builds AV-MNIST. The split is by speaker, so no voice heard in training
is heard at test time: recordings of ``test_speakers`` form the test split and take MNIST *test*
images, the others take MNIST *train* images, and no image is used twice within a split. The layout::

    out/
      avdigits.csv                image, audio, digit, speaker, split
      avdigits.manifest.json      what the table was built from, for reuse
      images/train/mnist01234.png MNIST train image 1234 (28x28 grayscale)
      images/test/mnist00042.png  MNIST test image 42

``image`` is relative to the table's folder; ``audio`` is the *absolute* path of the original WAV
(audio is not copied, and an absolute path survives moving the output folder). ``speaker`` and
``split`` describe the row; they are not inputs (pass them as ignored columns when training).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from polymodal.datasets.digits import forget_build, is_built, record_build, save_png, write_csv_atomic
from polymodal.errors import DataError, Problem

AVDIGITS_CSV = "avdigits.csv"
AVDIGITS_COLUMNS = ("image", "audio", "digit", "speaker", "split")
MNIST_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
FSDD_NAME = re.compile(r"^(?P<digit>[0-9])_(?P<speaker>[A-Za-z]+)_(?P<index>[0-9]+)\.wav$")
_AVDIGITS_VERSION = 1


@dataclass(frozen=True)
class FsddClip:
    """One FSDD recording and what its name says about it."""

    path: Path
    digit: int
    speaker: str
    index: int


def build_avdigits(
    mnist: Path,
    fsdd: Path,
    out: Path,
    *,
    seed: int = 0,
    n_per_clip: int = 1,
    test_speakers: Sequence[str] = ("theo",),
    max_rows: int | None = None,
) -> Path:
    """Build the AV-digits table into ``out`` and return the CSV's path.

    Parameters
    ----------
    mnist : ``mnist.npz`` (arrays x_train, y_train, x_test, y_test) or the folder holding it.
    fsdd : the folder of FSDD recordings (or the FSDD folder whose ``recordings/`` holds them).
    seed : seeds which MNIST images go with which clip, and the ``max_rows`` subsample.
    n_per_clip : MNIST images paired with each clip (one row each).
    test_speakers : speakers whose recordings form the test split; the rest form the train split.
    max_rows : keep a random subsample of this many rows, split in proportion (for quick tests).
        The kept rows are pairs the full build also makes.

    A folder already built from the same inputs and arguments (per its manifest) is reused.

    Example
    -------
    >>> csv = build_avdigits(Path("data/mnist/mnist.npz"), Path("data/fsdd"), Path("avdigits"))  # doctest: +SKIP
    >>> train, test = avdigits_splits(pd.read_csv(csv))  # doctest: +SKIP
    """
    mnist_file = _mnist_file(Path(mnist))
    clips = find_fsdd_clips(Path(fsdd))
    test_set = _check_test_speakers(clips, test_speakers, Path(fsdd))
    if n_per_clip < 1:
        raise ValueError(f"n_per_clip must be at least 1, got {n_per_clip}")
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"max_rows must be at least 1 (or None for every row), got {max_rows}")
    out = Path(out)
    csv_path = out / AVDIGITS_CSV
    params = {
        "dataset": "avdigits",
        "version": _AVDIGITS_VERSION,
        "mnist": str(mnist_file.resolve()),
        "fsdd": str(clips[0].path.parent.resolve()),
        "seed": int(seed),
        "n_per_clip": int(n_per_clip),
        "test_speakers": sorted(test_set),
        "max_rows": max_rows,
    }
    if is_built(csv_path, params, path_columns=("image", "audio")):
        return csv_path
    forget_build(csv_path)
    arrays = load_mnist(mnist_file)
    pairs = pair_clips_with_images(clips, arrays, test_set, n_per_clip=n_per_clip, seed=seed)
    if max_rows is not None:
        pairs = _subsample(pairs, max_rows, seed)
    table = _write_images(pairs, arrays, out)
    write_csv_atomic(table, csv_path)
    record_build(csv_path, params)
    return csv_path


def avdigits_splits(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train and test rows of an AV-digits table (index reset), split by its ``split`` column."""
    if "split" not in table.columns:
        raise ValueError(f"the table has no 'split' column; columns: {', '.join(map(str, table.columns))}")
    bad = sorted({str(v) for v in table["split"]} - {"train", "test"})
    if bad:
        raise ValueError(f"column 'split' holds {', '.join(map(repr, bad))}; expected only 'train' or 'test'")
    is_test = table["split"] == "test"
    return table[~is_test].reset_index(drop=True), table[is_test].reset_index(drop=True)


def find_fsdd_clips(fsdd: Path) -> list[FsddClip]:
    """Every recording in an FSDD folder, sorted by (digit, speaker, index); every name must parse."""
    if not fsdd.is_dir():
        raise FileNotFoundError(f"FSDD folder {fsdd} does not exist; pass the folder of FSDD recordings")
    folder = fsdd
    wavs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav")
    if not wavs and (fsdd / "recordings").is_dir():
        folder = fsdd / "recordings"
        wavs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav")
    if not wavs:
        raise DataError(
            f"no .wav files in FSDD folder {fsdd} (nor in {fsdd / 'recordings'}); "
            "pass the folder holding the recordings named {digit}_{speaker}_{index}.wav"
        )
    matches = [(p, FSDD_NAME.match(p.name)) for p in wavs]
    bad = [p for p, m in matches if m is None]
    if bad:
        raise DataError(
            f"{len(bad)} file name(s) in {folder} do not match {{digit}}_{{speaker}}_{{index}}.wav: "
            + ", ".join(p.name for p in bad[:20])
            + (" ..." if len(bad) > 20 else ""),
            [
                Problem("name does not match {digit}_{speaker}_{index}.wav", file=str(p), hint="rename or remove it")
                for p in bad
            ],
        )
    clips = [FsddClip(p, int(m["digit"]), m["speaker"], int(m["index"])) for p, m in matches if m is not None]
    return sorted(clips, key=lambda c: (c.digit, c.speaker, c.index))


def load_mnist(path: Path) -> dict[str, np.ndarray]:
    """The four MNIST arrays from ``mnist.npz``, checked for names, shapes and labels."""
    with np.load(_mnist_file(path)) as npz:
        missing = [k for k in MNIST_ARRAYS if k not in npz.files]
        if missing:
            raise DataError(
                f"{path} lacks array(s) {', '.join(missing)}; it holds {', '.join(npz.files)} "
                f"(expected {', '.join(MNIST_ARRAYS)})"
            )
        arrays = {k: np.asarray(npz[k]) for k in MNIST_ARRAYS}
    for part in ("train", "test"):
        images, labels = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if images.ndim != 3 or labels.shape != (images.shape[0],):
            raise DataError(
                f"{path}: x_{part} must be (N, H, W) and y_{part} (N,); got {images.shape} and {labels.shape}"
            )
    return arrays


def pair_clips_with_images(
    clips: Sequence[FsddClip],
    mnist: dict[str, np.ndarray],
    test_speakers: set[str],
    *,
    n_per_clip: int = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (clip, image): ``clip`` (FsddClip), ``digit``, ``split``, ``mnist_index``.

    Within a split, every image index is used at most once.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for split in ("train", "test"):
        in_split = [c for c in clips if (c.speaker in test_speakers) == (split == "test")]
        labels = mnist[f"y_{split}"]
        for digit in range(10):
            digit_clips = [c for c in in_split if c.digit == digit]
            pool = np.flatnonzero(labels == digit)
            needed = len(digit_clips) * n_per_clip
            if needed > len(pool):
                raise ValueError(
                    f"the {split} split needs {needed} MNIST {split} images of digit {digit} "
                    f"({len(digit_clips)} clips x n_per_clip={n_per_clip}) but MNIST has {len(pool)}; "
                    "lower n_per_clip"
                )
            chosen = rng.permutation(pool)[:needed].reshape(len(digit_clips), n_per_clip)
            parts += [(clip, digit, split, int(i)) for clip, row in zip(digit_clips, chosen) for i in row]
    return pd.DataFrame(parts, columns=["clip", "digit", "split", "mnist_index"])


def _mnist_file(path: Path) -> Path:
    file = path / "mnist.npz" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(
            f"MNIST file {file} not found; pass the path of mnist.npz "
            f"(arrays {', '.join(MNIST_ARRAYS)}) or the folder holding it"
        )
    return file


def _check_test_speakers(clips: Sequence[FsddClip], test_speakers: Sequence[str], fsdd: Path) -> set[str]:
    if isinstance(test_speakers, str):
        raise TypeError(f"test_speakers must be a sequence of names, e.g. ({test_speakers!r},), not a string")
    speakers = sorted({c.speaker for c in clips})
    unknown = sorted(set(test_speakers) - set(speakers))
    if unknown:
        raise ValueError(
            f"unknown test speaker(s) {', '.join(map(repr, unknown))}; the speakers in {fsdd} are {', '.join(speakers)}"
        )
    if not test_speakers:
        raise ValueError(f"test_speakers is empty; name at least one of {', '.join(speakers)}")
    if set(test_speakers) == set(speakers):
        raise ValueError(f"every speaker ({', '.join(speakers)}) is a test speaker; leave some for training")
    return set(test_speakers)


def _subsample(pairs: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """``max_rows`` random rows, each split getting its share (at least one row when there is room)."""
    if max_rows >= len(pairs):
        return pairs
    rng = np.random.default_rng([seed, 1])  # apart from the pairing stream, so pairs match the full build
    n_test = int((pairs["split"] == "test").sum())
    take_test = min(n_test, max(1 if max_rows > 1 else 0, round(max_rows * n_test / len(pairs))))
    keep = []
    for split, n in (("train", max_rows - take_test), ("test", take_test)):
        rows = np.flatnonzero(pairs["split"].to_numpy() == split)
        keep.append(rng.choice(rows, size=min(n, len(rows)), replace=False))
    return pairs.iloc[np.sort(np.concatenate(keep))].reset_index(drop=True)


def _write_images(pairs: pd.DataFrame, mnist: dict[str, np.ndarray], out: Path) -> pd.DataFrame:
    rows = []
    for clip, digit, split, index in pairs.itertuples(index=False):
        relative = f"images/{split}/mnist{index:05d}.png"
        save_png(out / relative, mnist[f"x_{split}"][index])
        rows.append((relative, str(clip.path.resolve()), int(digit), clip.speaker, split))
    return pd.DataFrame(rows, columns=list(AVDIGITS_COLUMNS))
