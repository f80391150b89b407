"""Per-modality preprocessing, fitted on the training rows only and saved as JSON + numpy arrays.

``build_preprocessor(kind, columns, column_kinds, **options)`` builds the preprocessor of one
modality; ``preprocessor_from_state(state, arrays)`` rebuilds a saved one.

Example
-------
>>> import pandas as pd
>>> from polymodal.data.kinds import ColumnKind, ModalityKind
>>> pre = build_preprocessor(ModalityKind.TEXT, ["review"], {"review": ColumnKind.TEXT}, max_length=8)
>>> pre.fit(pd.DataFrame({"review": ["good", "bad"]})).input_info()
{'kind': 'text', 'vocab_size': 4, 'max_length': 8}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from polymodal.data.cells import is_missing
from polymodal.data.kinds import ColumnKind, ModalityKind
from polymodal.data.preprocessing.audio import AudioPreprocessor
from polymodal.data.preprocessing.base import NotFittedError, Preprocessor
from polymodal.data.preprocessing.image import ImagePreprocessor
from polymodal.data.preprocessing.pretrained import PRETRAINED_PREPROCESSORS, VARIANT, PretrainedPreprocessor
from polymodal.data.preprocessing.tabular import TabularPreprocessor
from polymodal.data.preprocessing.text import TextPreprocessor, tokenize
from polymodal.data.preprocessing.vector import VectorPreprocessor
from polymodal.registry import Registry

PREPROCESSORS: Registry[Preprocessor] = Registry("preprocessor")
PREPROCESSORS.register("image", "resize to a square, scale to [0, 1], per-channel standardise")(ImagePreprocessor)
PREPROCESSORS.register("audio", "resample, pad/crop, log-mel spectrogram, standardise")(AudioPreprocessor)
PREPROCESSORS.register("text", "regex tokens, training vocabulary, padded id sequences")(TextPreprocessor)
PREPROCESSORS.register("tabular", "numeric impute/select/transform, then categorical codes")(TabularPreprocessor)
PREPROCESSORS.register("vector", "fixed-length float vectors, per-dimension standardise")(VectorPreprocessor)

_CLASSES: dict[str, type[Preprocessor]] = {
    cls.kind.value: cls
    for cls in (ImagePreprocessor, AudioPreprocessor, TextPreprocessor, TabularPreprocessor, VectorPreprocessor)
}

_COLUMN_KIND = {
    ModalityKind.IMAGE: ColumnKind.IMAGE,
    ModalityKind.AUDIO: ColumnKind.AUDIO,
    ModalityKind.TEXT: ColumnKind.TEXT,
    ModalityKind.VECTOR: ColumnKind.VECTOR,
}


def build_preprocessor(
    kind: ModalityKind | str,
    columns: Sequence[str],
    column_kinds: Mapping[str, ColumnKind],
    **options: Any,
) -> Preprocessor:
    """The (unfitted) preprocessor of one modality made of ``columns``.

    A tabular modality splits ``columns`` into numeric and categorical by ``column_kinds``; any other
    kind takes exactly one column. ``options`` are the preprocessor's keyword arguments (an unknown
    one is an error listing the valid ones).
    """
    kind = ModalityKind(kind)
    columns = list(columns)
    pretrained = options.pop("pretrained", None)
    kinds = {c: ColumnKind(column_kinds[c]) if c in column_kinds else None for c in columns}
    names = {c: k.value if k is not None else "not in column_kinds" for c, k in kinds.items()}
    if kind is ModalityKind.TABULAR:
        wrong = [c for c, k in kinds.items() if k not in (ColumnKind.NUMERIC, ColumnKind.CATEGORICAL)]
        if wrong:
            raise ValueError(
                f"a tabular modality takes numeric and categorical columns; {wrong} are {[names[c] for c in wrong]}"
            )
        numeric = [c for c in columns if kinds[c] is ColumnKind.NUMERIC]
        categorical = [c for c in columns if kinds[c] is ColumnKind.CATEGORICAL]
        return PREPROCESSORS.create("tabular", numeric=numeric, categorical=categorical, **options)
    if len(columns) != 1:
        raise ValueError(f"the {kind.value} modality takes exactly one column, got {columns}")
    column = columns[0]
    if kinds[column] is not _COLUMN_KIND[kind]:
        raise ValueError(
            f"column {column!r} is {names[column]}; the {kind.value} modality needs a column of kind {kind.value}"
        )
    if pretrained is not None:
        if kind not in PRETRAINED_PREPROCESSORS:
            raise ValueError(f"no pretrained preprocessing for the {kind.value} modality (column {column!r})")
        return PRETRAINED_PREPROCESSORS[kind](column, str(pretrained), **options)
    return PREPROCESSORS.create(kind.value, column=column, **options)


def preprocessor_from_state(state: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Preprocessor:
    """Rebuild a fitted preprocessor of any kind from :meth:`Preprocessor.get_state` output."""
    kind = state.get("kind")
    if state.get("variant") == VARIANT and kind in {k.value for k in PRETRAINED_PREPROCESSORS}:
        return PRETRAINED_PREPROCESSORS[ModalityKind(kind)].from_state(dict(state), dict(arrays))
    if not isinstance(kind, str) or kind not in _CLASSES:
        raise ValueError(f"preprocessing state has kind {kind!r}; known kinds: {', '.join(PREPROCESSORS.names())}")
    return _CLASSES[kind].from_state(dict(state), dict(arrays))


__all__ = [
    "PREPROCESSORS",
    "PRETRAINED_PREPROCESSORS",
    "AudioPreprocessor",
    "ImagePreprocessor",
    "NotFittedError",
    "Preprocessor",
    "PretrainedPreprocessor",
    "TabularPreprocessor",
    "TextPreprocessor",
    "VectorPreprocessor",
    "build_preprocessor",
    "is_missing",
    "preprocessor_from_state",
    "tokenize",
]
