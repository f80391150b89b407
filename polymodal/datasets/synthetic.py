"""Small synthetic tables for tests, benchmarks and docs.

:func:`make_synthetic_table` writes a table in which every modality carries signal about the target,
so a method that uses a modality must beat chance on it. Its columns (one per requested kind):

======================  ===========  ==========================================================
column                  kind         signal
======================  ===========  ==========================================================
``image``               image        32x32 RGB PNG: a bright 8x8 square at a class-specific spot
``audio``               audio        8 kHz 16-bit WAV, 0.3-0.6 s: a sine tone at 300 + 300*k Hz
``text``                text         two words from each active class's vocabulary plus noise words
``num_a``, ``num_b``    numeric      Gaussians shifted by the class (``num_a`` up, ``num_b`` down)
``colour``              categorical  the class's colour 75% of the time, a random colour otherwise
``embedding``           vector       8-d class prototype plus Gaussian noise, as a JSON list string
``label``               target       see below
======================  ===========  ==========================================================

The target is always the column ``label``:

- ``binary``: int 0/1 (``n_classes`` is ignored: there are two classes);
- ``multiclass``: int ``0..n_classes-1``, balanced;
- ``multilabel``: a JSON list string of the active class ids, e.g. ``"[0, 2]"`` (never empty); an image
  then holds one square per active class, the audio one tone per active class, and so on;
- ``regression``: a float in ``[0, 1)``: ``(bin + u) / n_classes`` with ``u`` uniform, the modalities
  showing the bin (``num_a``/``num_b`` and ``embedding`` the exact value).

:func:`make_messy_table` writes a small table with deliberately bad cells and says where each one is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from polymodal.datasets.digits import (
    forget_build,
    is_built,
    record_build,
    save_png,
    temporary_name,
    write_csv_atomic,
)

SYNTHETIC_CSV = "synthetic.csv"
MESSY_CSV = "messy.csv"
KINDS = ("image", "audio", "text", "numeric", "categorical", "vector")
TASKS = ("binary", "multiclass", "multilabel", "regression")
MAX_CLASSES = 10
SAMPLE_RATE = 8000
IMAGE_SIZE = 32
EMBEDDING_DIM = 8
CLASS_WORDS = (
    ("amber", "apricot", "autumn"),
    ("basalt", "boulder", "bronze"),
    ("cedar", "cobalt", "coral"),
    ("dune", "dusk", "delta"),
    ("ember", "echo", "elm"),
    ("fern", "frost", "flint"),
    ("garnet", "glacier", "grove"),
    ("harbor", "hazel", "heron"),
    ("indigo", "iris", "ivory"),
    ("jade", "juniper", "jasper"),
)
NOISE_WORDS = ("the", "a", "of", "and", "with", "some", "very", "quite", "small", "large", "near", "over")
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "pink", "brown", "grey", "black")
MESSY_DEFECT_KINDS = (
    "missing_file",
    "corrupt_image",
    "truncated_audio",
    "nan",
    "inf",
    "empty_text",
    "wrong_type",
)
_SYNTHETIC_VERSION = 1

Columns = dict[str, list[object]]
Value = np.ndarray | None  # the regression target per row; None for the classification tasks


def make_synthetic_table(
    out_dir: str | Path,
    n_rows: int = 120,
    seed: int = 0,
    kinds: Sequence[str] = KINDS,
    task: str = "multiclass",
    n_classes: int = 3,
) -> Path:
    """Write ``out_dir/synthetic.csv`` (media under ``images/`` and ``audio/``) and return its path.

    Use one folder per table: a second call with other arguments rebuilds the folder's table (a call
    with the same arguments reuses it).

    Example
    -------
    >>> import tempfile, pandas as pd
    >>> csv = make_synthetic_table(tempfile.mkdtemp(), n_rows=12, kinds=("numeric", "text"))
    >>> list(pd.read_csv(csv).columns)
    ['text', 'num_a', 'num_b', 'label']
    """
    kinds = _check_arguments(n_rows, kinds, task, n_classes)
    n_classes = 2 if task == "binary" else n_classes
    out = Path(out_dir)
    csv_path = out / SYNTHETIC_CSV
    params = {
        "dataset": "synthetic",
        "version": _SYNTHETIC_VERSION,
        "n_rows": n_rows,
        "seed": int(seed),
        "kinds": list(kinds),
        "task": task,
        "n_classes": n_classes,
    }
    media = [c for c, k in (("image", "image"), ("audio", "audio")) if k in kinds]
    if is_built(csv_path, params, path_columns=media):
        return csv_path
    forget_build(csv_path)
    rng = np.random.default_rng(seed)
    active, value = _latent_targets(rng, n_rows, task, n_classes)
    columns: dict[str, list[object]] = {}
    for kind in KINDS:  # a fixed order, so the columns do not depend on how ``kinds`` is ordered
        if kind in kinds:
            columns.update(_COLUMN_MAKERS[kind](rng, active, value, out))
    columns["label"] = _target_column(active, value, task)
    write_csv_atomic(pd.DataFrame(columns), csv_path)
    record_build(csv_path, params)
    return csv_path


def make_messy_table(out_dir: str | Path, seed: int = 0) -> tuple[Path, list[dict[str, object]]]:
    """Write ``out_dir/messy.csv``: 30 rows, every one valid except for these deliberate defects.

    ====  ==========  ===================  ===================================================
    row   column      kind                 defect
    ====  ==========  ===================  ===================================================
    2     ``image``   ``missing_file``     the path points to a file that does not exist
    5     ``image``   ``corrupt_image``    random bytes under a ``.png`` name
    8     ``audio``   ``truncated_audio``  a WAV cut in the middle of its data: the header
                                           promises more samples than the file holds
    11    ``num_a``   ``nan``              a blank (NaN) number
    14    ``num_a``   ``inf``              ``inf``
    17    ``text``    ``empty_text``       whitespace only (a truly empty CSV cell would read
                                           back as NaN, i.e. missing, not as empty text)
    20    ``num_b``   ``wrong_type``       the string ``"abc"`` in a numeric column
    ====  ==========  ===================  ===================================================

    Columns: ``image``, ``audio``, ``text``, ``num_a``, ``num_b``, ``colour``, ``label`` (int 0-2).
    Returns the CSV's path and the defects, each ``{"row", "column", "kind", "detail"}``. Note that
    the ``nan`` cell is a missing value, which a validator may rightly treat as missing rather than
    as an error.
    """
    out = Path(out_dir)
    csv_path = out / MESSY_CSV
    rng = np.random.default_rng(seed)
    active, value = _latent_targets(rng, 30, "multiclass", 3)
    columns = _image_columns(rng, active, value, out)
    columns.update(_audio_columns(rng, active, value, out))
    columns.update(_text_columns(rng, active, value, out))
    columns.update(_numeric_columns(rng, active, value, out))
    columns.update(_categorical_columns(rng, active, value, out))
    columns["label"] = _target_column(active, value, "multiclass")
    defects = _spoil(columns, rng, out)
    write_csv_atomic(pd.DataFrame(columns), csv_path)
    return csv_path, defects


# --- targets -----------------------------------------------------------------------------------------


def _check_arguments(n_rows: int, kinds: Sequence[str], task: str, n_classes: int) -> tuple[str, ...]:
    if isinstance(kinds, str):
        raise TypeError(f"kinds must be a sequence of kinds, e.g. ({kinds!r},), not a string")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown kind(s) {', '.join(map(repr, unknown))}; valid kinds: {', '.join(KINDS)}")
    if not kinds:
        raise ValueError(f"kinds is empty; name at least one of {', '.join(KINDS)}")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    if not 2 <= n_classes <= MAX_CLASSES:
        raise ValueError(f"n_classes must be between 2 and {MAX_CLASSES}, got {n_classes}")
    classes = 2 if task == "binary" else n_classes
    if n_rows < classes:
        raise ValueError(f"n_rows={n_rows} is too few for {classes} classes; use at least {classes}")
    return tuple(dict.fromkeys(kinds))


def _latent_targets(rng: np.random.Generator, n_rows: int, task: str, n_classes: int) -> tuple[np.ndarray, Value]:
    """``active``: ``(n, K)`` bool, the classes each row shows; ``value``: the regression target or None.

    For regression the class is the bin of the target: ``value = (class + u) / K``.
    """
    if task == "multilabel":
        active = rng.random((n_rows, n_classes)) < 0.4
        empty = ~active.any(axis=1)
        active[np.flatnonzero(empty), rng.integers(0, n_classes, size=int(empty.sum()))] = True
        return active, None
    classes = rng.permutation(np.arange(n_rows) % n_classes)  # balanced, every class present
    value = (classes + rng.random(n_rows)) / n_classes if task == "regression" else None
    return np.eye(n_classes, dtype=bool)[classes], value


def _target_column(active: np.ndarray, value: Value, task: str) -> list[object]:
    if task == "multilabel":
        return [json.dumps(np.flatnonzero(row).tolist()) for row in active]
    if value is not None:
        return [round(float(v), 6) for v in value]
    return [int(k) for k in active.argmax(axis=1)]


# --- one maker per kind: (rng, active, value, out) -> {column: values} --------------------------------


def _image_columns(rng: np.random.Generator, active: np.ndarray, value: Value, out: Path) -> Columns:
    n_classes = active.shape[1]
    angles = 2 * np.pi * np.arange(n_classes) / n_classes
    centres = IMAGE_SIZE / 2 + 9 * np.stack([np.sin(angles), np.cos(angles)], axis=1)
    paths: list[object] = []
    for i, row in enumerate(active):
        pixels = rng.uniform(0, 80, size=(IMAGE_SIZE, IMAGE_SIZE, 3))
        for k in np.flatnonzero(row):
            y, x = np.rint(centres[k] + rng.integers(-1, 2, size=2)).astype(int) - 4
            pixels[max(y, 0) : y + 8, max(x, 0) : x + 8] = rng.uniform(200, 255, size=3)
        relative = f"images/{i:04d}.png"
        save_png(out / relative, pixels.astype(np.uint8))
        paths.append(relative)
    return {"image": paths}


def _tone(rng: np.random.Generator, classes: np.ndarray) -> np.ndarray:
    t = np.arange(int(rng.uniform(0.3, 0.6) * SAMPLE_RATE)) / SAMPLE_RATE
    phases = rng.uniform(0, 2 * np.pi, size=len(classes))
    wave = sum(np.sin(2 * np.pi * (300 + 300 * k) * t + p) for k, p in zip(classes, phases))
    wave = 0.5 * np.asarray(wave) / max(len(classes), 1) + rng.normal(0, 0.02, size=t.shape)
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


def _save_wav(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    sf.write(tmp, samples, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    os.replace(tmp, path)


def _audio_columns(rng: np.random.Generator, active: np.ndarray, value: Value, out: Path) -> Columns:
    paths: list[object] = []
    for i, row in enumerate(active):
        relative = f"audio/{i:04d}.wav"
        _save_wav(out / relative, _tone(rng, np.flatnonzero(row)))
        paths.append(relative)
    return {"audio": paths}


def _text_columns(rng: np.random.Generator, active: np.ndarray, value: Value, out: Path) -> Columns:
    texts: list[object] = []
    for row in active:
        words = [str(w) for k in np.flatnonzero(row) for w in rng.choice(CLASS_WORDS[k], size=2)]
        words += [str(w) for w in rng.choice(NOISE_WORDS, size=int(rng.integers(3, 7)))]
        texts.append(" ".join(rng.permutation(words)))
    return {"text": texts}


def _numeric_columns(rng: np.random.Generator, active: np.ndarray, value: Value, out: Path) -> Columns:
    n_classes = active.shape[1]
    # the exact target for regression (scaled to the class range), else the sum of the active class ids + 1
    shift = value * n_classes if value is not None else active @ np.arange(1.0, n_classes + 1)
    num_a = 1.5 * shift + rng.normal(0, 1, size=len(shift))
    num_b = -1.0 * shift + rng.normal(0, 1, size=len(shift))
    return {"num_a": np.round(num_a, 4).tolist(), "num_b": np.round(num_b, 4).tolist()}


def _categorical_columns(rng: np.random.Generator, active: np.ndarray, value: Value, out: Path) -> Columns:
    colours: list[object] = []
    for row in active:
        k = int(rng.choice(np.flatnonzero(row)))
        colours.append(COLOURS[k] if rng.random() < 0.75 else str(rng.choice(COLOURS)))
    return {"colour": colours}


def _vector_columns(rng: np.random.Generator, active: np.ndarray, value: Value, out: Path) -> Columns:
    prototypes = rng.normal(0, 1.5, size=(active.shape[1], EMBEDDING_DIM))
    direction = rng.normal(0, 1, size=EMBEDDING_DIM)
    vectors = active @ prototypes + rng.normal(0, 1, size=(len(active), EMBEDDING_DIM))
    if value is not None:  # the exact target too, beyond its bin
        vectors += np.outer(3.0 * (value - value.mean()), direction)
    return {"embedding": [json.dumps(np.round(v, 4).tolist()) for v in vectors]}


_COLUMN_MAKERS = {
    "image": _image_columns,
    "audio": _audio_columns,
    "text": _text_columns,
    "numeric": _numeric_columns,
    "categorical": _categorical_columns,
    "vector": _vector_columns,
}


# --- the messy table's defects -----------------------------------------------------------------------


def _spoil(columns: dict[str, list[object]], rng: np.random.Generator, out: Path) -> list[dict[str, object]]:
    """Put one defect on each of rows 2, 5, ..., 20 and describe them."""
    columns["image"][2] = "images/missing_0002.png"
    (out / "images" / "missing_0002.png").unlink(missing_ok=True)
    corrupt = out / "images" / "0005.png"
    corrupt.write_bytes(rng.integers(0, 256, size=512, dtype=np.uint8).tobytes())
    wav = out / "audio" / "0008.wav"
    data = wav.read_bytes()
    wav.write_bytes(data[: 44 + (len(data) - 44) // 2])  # the 44-byte header still promises it all
    columns["num_a"][11] = float("nan")
    columns["num_a"][14] = float("inf")
    columns["text"][17] = "   "
    columns["num_b"][20] = "abc"
    return [
        {"row": 2, "column": "image", "kind": "missing_file", "detail": "images/missing_0002.png does not exist"},
        {"row": 5, "column": "image", "kind": "corrupt_image", "detail": "images/0005.png holds random bytes"},
        {
            "row": 8,
            "column": "audio",
            "kind": "truncated_audio",
            "detail": "audio/0008.wav is cut halfway through its data chunk",
        },
        {"row": 11, "column": "num_a", "kind": "nan", "detail": "a blank (NaN) number"},
        {"row": 14, "column": "num_a", "kind": "inf", "detail": "an infinite number"},
        {"row": 17, "column": "text", "kind": "empty_text", "detail": "whitespace-only text"},
        {"row": 20, "column": "num_b", "kind": "wrong_type", "detail": "the string 'abc' in a numeric column"},
    ]
