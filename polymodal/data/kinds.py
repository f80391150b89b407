"""Modality kinds and the shape of a batch of each kind.

Every modality's batch is one tensor, with a boolean mask ``[B]`` (True = present):

========== ============================== ===============================================
kind       batch tensor                   source column
========== ============================== ===============================================
image      float ``[B, C, H, W]``         path to an image file (read with Pillow)
audio      float ``[B, 1, n_mels, T]``    path to a WAV/FLAC file (log-mel spectrogram)
text       long ``[B, L]`` (0 = padding)  free text
tabular    float ``[B, F + K]``           numeric columns (F), then categorical codes (K)
vector     float ``[B, D]``               a list/array per row (precomputed features)
========== ============================== ===============================================

``numeric`` and ``categorical`` are column kinds; columns of those kinds are grouped into a
``tabular`` modality.
"""

from __future__ import annotations

from enum import Enum


class ColumnKind(str, Enum):
    """What one column of a table holds."""

    IMAGE = "image"
    AUDIO = "audio"
    TEXT = "text"
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    VECTOR = "vector"
    IGNORE = "ignore"

    @classmethod
    def parse(cls, value: str) -> ColumnKind:
        try:
            return cls(value.lower())
        except ValueError:
            valid = ", ".join(k.value for k in cls)
            raise ValueError(f"unknown modality kind {value!r}; valid kinds: {valid}") from None


class ModalityKind(str, Enum):
    """What one modality (one encoder's input) is."""

    IMAGE = "image"
    AUDIO = "audio"
    TEXT = "text"
    TABULAR = "tabular"
    VECTOR = "vector"


FILE_KINDS = frozenset({ColumnKind.IMAGE, ColumnKind.AUDIO})
TABULAR_KINDS = frozenset({ColumnKind.NUMERIC, ColumnKind.CATEGORICAL})
