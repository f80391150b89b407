"""Interpreting single cells: missing values, paths, vectors, label lists."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
# soundfile's format names that are not file extensions (raw needs its layout given; wavex, mat4 and mat5
# are written .wav / .mat), and the usual extensions of its formats that are not format names
_NOT_EXTENSIONS = frozenset({"raw", "wavex", "mat4", "mat5"})
AUDIO_EXTENSIONS = frozenset(
    {f".{name.lower()}" for name in sf.available_formats() if name.lower() not in _NOT_EXTENSIONS}
    | {".wav", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".aifc", ".mp3"}
)
"""Extensions of the audio files soundfile (libsndfile) reads: a column of such paths is audio."""


def is_missing(value: Any) -> bool:
    """True for a blank cell: ``None``, float NaN, ``pd.NA``, ``pd.NaT`` and ``numpy`` NaT.

    An empty string is *not* missing (it is reported); arrays, lists and tuples are never missing.

    >>> [is_missing(v) for v in (None, float("nan"), pd.NA, pd.NaT, np.datetime64("NaT"), "", 0)]
    [True, True, True, True, True, False, False]
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(value))
    return False


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
    if isinstance(value, (pd.Timestamp, np.datetime64)):  # a datetime given the numeric kind: seconds since 1970
        return float(pd.Timestamp(value).value) / 1e9
    if isinstance(value, (pd.Timedelta, np.timedelta64)):
        return float(pd.Timedelta(value).total_seconds())
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
