"""Embeddings as table columns, so that they feed ``polymodal fit`` as ``vector`` modalities."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


def vector_column(embeddings: Any, *, index: Any = None, name: str = "embedding") -> pd.Series:
    """A column holding one float32 vector (a list) per row of a 2-D ``embeddings`` array.

    Example
    -------
    >>> col = vector_column(np.eye(2), name="v")
    >>> col.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    values = np.asarray(embeddings, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (rows x dimensions), got shape {values.shape}")
    return pd.Series([row.tolist() for row in values], index=index, name=name, dtype=object)


def token_vector_column(
    tokens: Sequence[Any],
    embeddings: Any,
    vocabulary: Sequence[Hashable] | Mapping[Hashable, int],
    *,
    index: Any = None,
    name: str = "embedding",
) -> pd.Series:
    """A vector column from each row's tokens: the mean embedding of its known tokens.

    ``tokens[i]`` is one token or a list of tokens (a string is one token); ``embeddings[j]`` is the
    vector of ``vocabulary[j]`` (e.g. ``SVDEmbedding.embedding_`` with ``CooccurrenceMatrix.rows``). A
    row without any known token gets ``None``, which polymodal reads as a missing modality.

    Example
    -------
    >>> col = token_vector_column([["a", "b"], "b", "zzz"], np.array([[1.0, 0.0], [0.0, 1.0]]), ["a", "b"])
    >>> col.tolist()
    [[0.5, 0.5], [0.0, 1.0], None]
    """
    values = np.asarray(embeddings, dtype=np.float64)
    lookup = vocabulary if isinstance(vocabulary, Mapping) else {t: i for i, t in enumerate(vocabulary)}
    if values.ndim != 2 or values.shape[0] < len(lookup):
        raise ValueError(
            f"embeddings must be 2-D with one row per vocabulary entry ({len(lookup)}), got shape {values.shape}"
        )
    cells: list[list[float] | None] = []
    for value in tokens:
        row_tokens = [value] if isinstance(value, (str, bytes)) or np.ndim(value) == 0 else list(value)
        ids = [lookup[t] for t in row_tokens if t in lookup]
        cells.append(values[ids].mean(axis=0).astype(np.float32).tolist() if ids else None)
    return pd.Series(cells, index=index, name=name, dtype=object)
