"""Text: regex tokenizer, vocabulary fitted on the training rows, fixed-length id sequences."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import torch

from polymodal.data.cells import is_missing
from polymodal.data.kinds import ModalityKind
from polymodal.data.preprocessing.base import SingleColumnPreprocessor, row_label

PAD_ID = 0
UNKNOWN_ID = 1
MIN_LENGTH = 4
MAX_LENGTH = 256
_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lowercase words and single punctuation marks.

    >>> tokenize("Hello, World!")
    ['hello', ',', 'world', '!']
    """
    return _TOKEN.findall(text.lower())


class TextPreprocessor(SingleColumnPreprocessor):
    """Free text to token ids long ``[N, max_length]`` (0 = padding, 1 = unknown word).

    Parameters
    ----------
    column:
        The text column.
    min_freq:
        A word enters the vocabulary when it occurs at least this often in the training rows.
    max_size:
        At most this many words (the most frequent; ties broken alphabetically), besides the two
        special ids.
    max_length:
        Sequence length (longer texts are truncated, shorter ones padded); ``None`` fits it: the
        95th percentile of the training token counts, clipped to [4, 256].

    Example
    -------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"t": ["a cat", "a dog"]})
    >>> TextPreprocessor("t", max_length=4).fit(train).transform(pd.DataFrame({"t": ["A bird"]})).tolist()
    [[2, 1, 0, 0]]
    """

    kind = ModalityKind.TEXT

    def __init__(self, column: str, min_freq: int = 1, max_size: int = 20000, max_length: int | None = None) -> None:
        super().__init__(column)
        if int(min_freq) < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}")
        if int(max_size) < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        if max_length is not None and int(max_length) < 1:
            raise ValueError(f"max_length must be a positive integer or None, got {max_length}")
        self.min_freq = int(min_freq)
        self.max_size = int(max_size)
        self.max_length = None if max_length is None else int(max_length)

    def options(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "min_freq": self.min_freq,
            "max_size": self.max_size,
            "max_length": self.max_length,
        }

    def present(self, frame: pd.DataFrame) -> np.ndarray:
        self._check_columns(frame)
        return np.fromiter(
            (not is_missing(v) and not (isinstance(v, str) and not v.strip()) for v in frame[self.column]),
            dtype=bool,
            count=len(frame),
        )

    def _fit(self, frame: pd.DataFrame, target: np.ndarray | None) -> None:
        positions, cells = self._present_values(frame)
        if not cells:
            raise self._no_training_values()
        token_lists = [tokenize(self._check_cell(frame, p, c)) for p, c in zip(positions, cells)]
        counts = Counter(token for tokens in token_lists for token in tokens)
        kept = sorted((w for w, n in counts.items() if n >= self.min_freq), key=lambda w: (-counts[w], w))
        self.vocabulary_: list[str] = kept[: self.max_size]
        self._index = {word: i + 2 for i, word in enumerate(self.vocabulary_)}
        length = self.max_length
        if length is None:
            p95 = float(np.percentile([len(t) for t in token_lists], 95))
            length = int(np.clip(int(np.ceil(p95)), MIN_LENGTH, MAX_LENGTH))
        self.length_ = length

    def _transform(self, frame: pd.DataFrame) -> torch.Tensor:
        out = np.full((len(frame), self.length_), PAD_ID, dtype=np.int64)
        positions, cells = self._present_values(frame)
        for position, cell in zip(positions, cells):
            ids = [self._index.get(t, UNKNOWN_ID) for t in tokenize(self._check_cell(frame, position, cell))]
            ids = ids[: self.length_]
            out[position, : len(ids)] = ids
        return torch.from_numpy(out)

    @property
    def vocab_size(self) -> int:
        """Number of ids, padding and unknown included."""
        return len(self.vocabulary_) + 2

    def _input_info(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "max_length": self.length_}

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"vocabulary": list(self.vocabulary_), "max_length": self.length_}, {}

    def _load_fitted_state(self, fitted: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.vocabulary_ = [str(w) for w in fitted["vocabulary"]]
        self._index = {word: i + 2 for i, word in enumerate(self.vocabulary_)}
        self.length_ = int(fitted["max_length"])

    def _check_cell(self, frame: pd.DataFrame, position: int, cell: Any) -> str:
        if not isinstance(cell, str):
            where = f"column {self.column!r}, row {row_label(frame, position)}"
            raise TypeError(f"{where}: expected text (str), got {type(cell).__name__}")
        return cell
