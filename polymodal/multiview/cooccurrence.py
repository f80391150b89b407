"""Co-occurrence matrices: tokens within a window of a sequence, or tokens paired across modalities."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class CooccurrenceMatrix:
    """Sparse counts with the labels of their rows and columns.

    ``counts[i, j]`` is how often ``rows[i]`` occurred with ``columns[j]``.

    Example
    -------
    >>> m = window_cooccurrence([["a", "b", "a"]], window=1)
    >>> m.rows, m.counts.toarray().tolist()
    (('a', 'b'), [[0.0, 2.0], [2.0, 0.0]])
    """

    counts: sparse.csr_matrix
    rows: tuple[Hashable, ...]
    columns: tuple[Hashable, ...]
    _row_index: dict[Hashable, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.counts.shape != (len(self.rows), len(self.columns)):
            raise ValueError(
                f"counts has shape {self.counts.shape} but there are {len(self.rows)} row and "
                f"{len(self.columns)} column labels"
            )
        object.__setattr__(self, "_row_index", {label: i for i, label in enumerate(self.rows)})

    def row_index(self, label: Hashable) -> int:
        """The row of ``label``; raises ``KeyError`` naming the label when it is not in the matrix."""
        try:
            return self._row_index[label]
        except KeyError:
            raise KeyError(f"{label!r} is not a row of this co-occurrence matrix") from None


def build_vocabulary(sequences: Iterable[Iterable[Hashable]], min_count: int = 1) -> tuple[Hashable, ...]:
    """Tokens seen at least ``min_count`` times, most frequent first (ties in order of first appearance).

    Example
    -------
    >>> build_vocabulary([["b", "a", "a"], ["c"]])
    ('a', 'b', 'c')
    """
    counts = Counter(token for seq in sequences for token in seq)
    kept = [token for token, count in counts.items() if count >= min_count]
    return tuple(sorted(kept, key=lambda token: -counts[token]))  # sorted() is stable: keeps first appearance


def window_cooccurrence(
    sequences: Sequence[Sequence[Hashable]],
    window: int = 2,
    *,
    vocabulary: Sequence[Hashable] | None = None,
    min_count: int = 1,
    distance_weighting: bool = False,
) -> CooccurrenceMatrix:
    """Count pairs of tokens at most ``window`` positions apart in each sequence (both orders).

    Parameters
    ----------
    sequences : list of token lists (already split: a plain string is refused).
    window : largest distance between two co-occurring tokens.
    vocabulary : the rows/columns; default every token seen ``min_count`` times, most frequent first.
        Tokens outside it are dropped after the windows are taken (they still take up positions).
    distance_weighting : count a pair at distance ``d`` as ``1 / d`` (as GloVe does) instead of 1.

    Example
    -------
    >>> m = window_cooccurrence([["the", "cat", "sat"]], window=2, distance_weighting=True)
    >>> m.counts[m.row_index("the"), m.row_index("sat")]
    np.float64(0.5)
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    for i, seq in enumerate(sequences):
        if isinstance(seq, str):
            raise TypeError(f"sequence {i} is a str; split it into a list of tokens first")
    vocab = tuple(vocabulary) if vocabulary is not None else build_vocabulary(sequences, min_count)
    index = {token: i for i, token in enumerate(vocab)}
    left, right, weight = [], [], []
    for seq in sequences:
        ids = np.array([index.get(token, -1) for token in seq], dtype=np.int64)
        for d in range(1, min(window, len(ids) - 1) + 1):
            a, b = ids[:-d], ids[d:]
            ok = (a >= 0) & (b >= 0)
            left.append(a[ok])
            right.append(b[ok])
            weight.append(np.full(int(ok.sum()), 1.0 / d if distance_weighting else 1.0))
    return CooccurrenceMatrix(_symmetric_counts(left, right, weight, len(vocab)), vocab, vocab)


def _symmetric_counts(left: list[np.ndarray], right: list[np.ndarray], weight: list[np.ndarray], size: int) -> Any:
    a = np.concatenate(left) if left else np.zeros(0, dtype=np.int64)
    b = np.concatenate(right) if right else np.zeros(0, dtype=np.int64)
    w = np.concatenate(weight) if weight else np.zeros(0)
    counts = sparse.coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(size, size))
    return counts.tocsr()  # duplicates are summed


def paired_cooccurrence(
    rows: Sequence[Any],
    columns: Sequence[Any],
    *,
    row_vocabulary: Sequence[Hashable] | None = None,
    column_vocabulary: Sequence[Hashable] | None = None,
    weights: Sequence[float] | None = None,
) -> CooccurrenceMatrix:
    """Count tokens paired across two modalities, sample by sample.

    Sample ``i`` adds ``weights[i]`` (default 1) to every pair in ``rows[i] x columns[i]``; each entry
    is one token or a list of tokens (a string is one token). For example the words of a caption
    against the cluster id of its image.

    Example
    -------
    >>> m = paired_cooccurrence([["red", "car"], ["red"]], [3, 7])
    >>> m.rows, m.columns, m.counts.toarray().tolist()
    (('red', 'car'), (3, 7), [[1.0, 1.0], [1.0, 0.0]])
    """
    if len(rows) != len(columns):
        raise ValueError(f"rows and columns must have one entry per sample; got {len(rows)} and {len(columns)}")
    if weights is not None and len(weights) != len(rows):
        raise ValueError(f"weights must have one value per sample ({len(rows)}), got {len(weights)}")
    row_lists = [_as_tokens(value) for value in rows]
    col_lists = [_as_tokens(value) for value in columns]
    row_vocab = tuple(row_vocabulary) if row_vocabulary is not None else build_vocabulary(row_lists)
    col_vocab = tuple(column_vocabulary) if column_vocabulary is not None else build_vocabulary(col_lists)
    row_index = {t: i for i, t in enumerate(row_vocab)}
    col_index = {t: i for i, t in enumerate(col_vocab)}
    r, c, w = [], [], []
    for i, (row_tokens, col_tokens) in enumerate(zip(row_lists, col_lists)):
        sample_weight = 1.0 if weights is None else float(weights[i])
        for a in (row_index[t] for t in row_tokens if t in row_index):
            for b in (col_index[t] for t in col_tokens if t in col_index):
                r.append(a)
                c.append(b)
                w.append(sample_weight)
    counts = sparse.coo_matrix((w, (r, c)), shape=(len(row_vocab), len(col_vocab)), dtype=np.float64)
    return CooccurrenceMatrix(counts.tocsr(), row_vocab, col_vocab)


def _as_tokens(value: Any) -> list[Hashable]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    return list(value)
