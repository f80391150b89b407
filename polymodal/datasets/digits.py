"""The embedded default dataset: scikit-learn's 8x8 digits as the noisy two-view protocol.

It is made at run time from the 1,797 digits that ship inside scikit-learn, so it needs no download.
Each digit becomes two 8x8 grayscale PNGs (kept at their native 8x8: upscaling would only invent
pixels; encoders resize as they need) and one CSV row::

    out_dir/
      digits_two_view.csv            rotated, noisy, digit
      digits_two_view.manifest.json  what the table was made with (seed), for reuse
      images/view1/0000.png ...      view 1: the digit rotated by up to 45 degrees
      images/view2/0000.png ...      view 2: another digit of the same class plus uniform noise

This module also holds the small file-writing helpers the other built-in datasets share: every file
is written under a temporary name in its own folder and then renamed into place, so an interrupted
build never leaves a half-written file behind a name a later run would trust.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.datasets import load_digits

from polymodal.datasets.two_view import make_noisy_two_view
from polymodal.storage.atomic import atomic_write_text, atomic_write_with

DIGITS_CSV = "digits_two_view.csv"
DIGITS_COLUMNS = ("rotated", "noisy", "digit")
_DIGITS_VERSION = 1  # bump when the layout or the pixels change, so old folders are rebuilt


def make_digits_two_view(out_dir: str | Path, seed: int = 0) -> Path:
    """Write the two-view digits table into ``out_dir`` and return the CSV's path.

    A folder already built with the same ``seed`` (per its manifest) is reused as it is.

    Example
    -------
    >>> import tempfile, pandas as pd
    >>> csv = make_digits_two_view(tempfile.mkdtemp(), seed=0)
    >>> list(pd.read_csv(csv).columns)
    ['rotated', 'noisy', 'digit']
    """
    out = Path(out_dir)
    csv_path = out / DIGITS_CSV
    params = {"dataset": "digits_two_view", "version": _DIGITS_VERSION, "seed": int(seed)}
    if is_built(csv_path, params, path_columns=DIGITS_COLUMNS[:2]):
        return csv_path
    forget_build(csv_path)
    digits = load_digits()
    view1, view2 = make_noisy_two_view(digits.images / 16.0, digits.target, seed=seed)
    rows = []
    for i, (rotated, noisy, digit) in enumerate(zip(view1, view2, digits.target)):
        name = f"{i:04d}.png"
        save_png(out / "images" / "view1" / name, to_uint8(rotated))
        save_png(out / "images" / "view2" / name, to_uint8(noisy))
        rows.append((f"images/view1/{name}", f"images/view2/{name}", int(digit)))
    write_csv_atomic(pd.DataFrame(rows, columns=list(DIGITS_COLUMNS)), csv_path)
    record_build(csv_path, params)
    return csv_path


# --- helpers shared by the built-in datasets -------------------------------------------------------


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Pixels in ``[0, 1]`` to 8-bit values (rounded, clipped)."""
    return np.rint(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)


def temporary_name(path: Path) -> Path:
    """A hidden name beside ``path`` to write to before renaming into place."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def save_png(path: Path, pixels: np.ndarray) -> None:
    """Write uint8 ``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB) pixels as a PNG, atomically."""
    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    atomic_write_with(path, lambda tmp: image.save(tmp, format="PNG"))


def write_text_atomic(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    write_text_atomic(path, frame.to_csv(index=False))


def manifest_path(table_path: Path) -> Path:
    return table_path.with_name(f"{table_path.stem}.manifest.json")


def record_build(table_path: Path, params: Mapping[str, Any]) -> None:
    """Write the manifest beside a finished table: it is written last, so it vouches for the files."""
    write_text_atomic(manifest_path(table_path), json.dumps(dict(params), indent=2, sort_keys=True) + "\n")


def forget_build(table_path: Path) -> None:
    """Remove the manifest first, so that a rebuild cut short is never mistaken for a finished one."""
    manifest_path(table_path).unlink(missing_ok=True)


def is_built(table_path: Path, params: Mapping[str, Any], path_columns: Iterable[str] = ()) -> bool:
    """True when ``table_path`` was built with ``params`` and every file in ``path_columns`` exists."""
    manifest = manifest_path(table_path)
    if not (table_path.is_file() and manifest.is_file()):
        return False
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    if recorded != json.loads(json.dumps(dict(params))):  # compare as JSON sees them (tuples -> lists)
        return False
    columns = list(path_columns)
    if not columns:
        return True
    frame = pd.read_csv(table_path, usecols=columns)
    base = table_path.parent
    return all((base / str(p)).is_file() for col in columns for p in frame[col])
