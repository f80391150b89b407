"""Interpreting single cells: missing values, paths, vectors, label lists."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".aiff", ".aif"})


def is_missing(value: Any) -> bool:
    """True for None and NaN (a blank cell). An empty string is *not* missing: it is reported."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return bool(value is np.nan)


def parse_vector(value: Any) -> np.ndarray | None:
    """A list/array cell or a JSON list string as a float vector; None when it is not one."""
    if isinstance(value, np.ndarray):
        return value.astype(np.float64).ravel() if value.dtype.kind in "biuf" else None
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                return None
            if isinstance(parsed, list) and all(isinstance(v, (int, float)) for v in parsed):
                return np.asarray(parsed, dtype=np.float64)
    return None


def parse_label_list(value: Any) -> list[str] | None:
    """A multilabel cell: a list, a JSON list string, or labels separated by ``|``."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                return None
            return [str(v) for v in parsed] if isinstance(parsed, list) else None
        if "|" in text:
            return [t.strip() for t in text.split("|") if t.strip()]
    return None


def path_extension(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    dot = text.rfind(".")
    return text[dot:].lower() if dot > max(text.rfind("/"), text.rfind("\\")) else None


def to_float(value: Any) -> float | None:
    """A numeric cell as a float (NaN for missing); None when the cell is not a number."""
    if is_missing(value):
        return math.nan
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
