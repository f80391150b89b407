"""The preprocessing contract: one fitted transform from a modality's loaded cells to its batch tensor.

A preprocessor is fitted on the training rows only, turns any frame into the batch tensor of its
kind (see :mod:`polymodal.data.kinds`), and is saved as JSON-able state plus numpy arrays (never a
pickle). Missing cells (``None`` / NaN) give all-zero rows and ``present() == False``.

Example
-------
>>> import numpy as np, pandas as pd
>>> from polymodal.data.preprocessing import VectorPreprocessor
>>> train = pd.DataFrame({"emb": [np.array([1.0, 2.0], np.float32), np.array([3.0, 2.0], np.float32)]})
>>> pre = VectorPreprocessor("emb").fit(train)
>>> pre.transform(train).tolist()
[[-1.0, 0.0], [1.0, 0.0]]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd
import torch

from polymodal.data.cells import is_missing
from polymodal.data.kinds import ModalityKind
from polymodal.errors import PolymodalError

__all__ = ["FileLookup", "NotFittedError", "Preprocessor", "SingleColumnPreprocessor", "is_missing",
           "require_arrays", "row_label"]

STATE_VERSION = 1

FileLookup = Callable[[Sequence[bytes]], np.ndarray]
"""Which of some content keys are available without decoding their files: ``keys -> bool [n]``."""

P = TypeVar("P", bound="Preprocessor")


class NotFittedError(PolymodalError, RuntimeError):
    """A preprocessor was used (transform, input_info, get_state) before ``fit``."""


def row_label(frame: pd.DataFrame, position: int) -> Hashable:
    """The index label of the row at ``position`` (what error messages call the row)."""
    label: Hashable = frame.index[position]
    return label


class Preprocessor(ABC):
    """Base class of the per-kind preprocessors.

    Subclasses implement ``_fit``, ``_transform``, ``_present_cell``/``present``, ``_input_info``,
    ``options`` and the fitted-state pair ``_fitted_state`` / ``_load_fitted_state``.
    """

    kind: ClassVar[ModalityKind]

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns: list[str] = list(columns)
        self._fitted = False

    # ---------------------------------------------------------------- public API
    @property
    def is_fitted(self) -> bool:
        return self._fitted

    def fit(self: P, frame: pd.DataFrame, target: np.ndarray | None = None) -> P:
        """Fit on the training rows ``frame`` (only this modality's columns are read)."""
        self._check_columns(frame)
        self._fit(frame, target)
        self._fitted = True
        return self

    def transform(self, frame: pd.DataFrame) -> torch.Tensor:
        """The batch tensor of ``frame``: one row per frame row, zeros where the modality is missing."""
        self._check_fitted("transform")
        self._check_columns(frame)
        return self._transform(frame)

    def fit_transform(self, frame: pd.DataFrame, target: np.ndarray | None = None) -> torch.Tensor:
        return self.fit(frame, target).transform(frame)

    def present(self, frame: pd.DataFrame) -> np.ndarray:
        """Bool ``[N]``: whether the modality is present in each row."""
        self._check_columns(frame)
        column = frame[self.columns[0]]
        return np.fromiter((not is_missing(v) for v in column), dtype=bool, count=len(frame))

    def file_lookup(self) -> FileLookup | None:
        """How :func:`~polymodal.data.validation.load_table` should load this modality's media files.

        ``None`` (the default): decode every file. A function of content keys instead: load the
        files as :class:`~polymodal.data.file_sample.FileSample` cells keyed by their bytes, and
        decode only those whose key the function does not report as available (e.g. embeddings a
        frozen encoder already cached). Works before ``fit``.
        """
        return None

    def input_info(self) -> dict[str, Any]:
        """Sizes for the encoder factory, plus ``kind``."""
        self._check_fitted("input_info")
        return {"kind": self.kind.value, **self._input_info()}

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able ``{kind, version, options, fitted}`` and a dict of numpy arrays."""
        self._check_fitted("get_state")
        fitted, arrays = self._fitted_state()
        state = {"kind": self.kind.value, "version": STATE_VERSION, "options": self.options(), "fitted": fitted}
        return state, arrays

    @classmethod
    def from_state(cls: type[P], state: dict[str, Any], arrays: dict[str, np.ndarray]) -> P:
        """Rebuild a fitted preprocessor from :meth:`get_state`'s output."""
        kind = state.get("kind")
        if kind != cls.kind.value:
            raise ValueError(f"{cls.__name__} cannot load a state of kind {kind!r}; expected {cls.kind.value!r}")
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"preprocessing state version {state.get('version')!r} is not supported "
                f"(this polymodal reads version {STATE_VERSION})"
            )
        obj = cls(**state["options"])
        obj._load_fitted_state(state["fitted"], arrays)
        obj._fitted = True
        return obj

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({options})"

    # ---------------------------------------------------------------- for subclasses
    @abstractmethod
    def options(self) -> dict[str, Any]:
        """The constructor's keyword arguments (JSON-able)."""

    @abstractmethod
    def _fit(self, frame: pd.DataFrame, target: np.ndarray | None) -> None: ...

    @abstractmethod
    def _transform(self, frame: pd.DataFrame) -> torch.Tensor: ...

    @abstractmethod
    def _input_info(self) -> dict[str, Any]: ...

    @abstractmethod
    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]: ...

    @abstractmethod
    def _load_fitted_state(self, fitted: dict[str, Any], arrays: dict[str, np.ndarray]) -> None: ...

    def _check_fitted(self, action: str) -> None:
        if not self._fitted:
            raise NotFittedError(
                f"{type(self).__name__} for column(s) {self.columns} is not fitted; "
                f"call fit() on the training rows before {action}()"
            )

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"the frame has no column(s) {missing} needed by the {self.kind.value} preprocessor; "
                f"it has {list(frame.columns)}"
            )


class SingleColumnPreprocessor(Preprocessor):
    """A preprocessor of one column (image, audio, text, vector)."""

    def __init__(self, column: str) -> None:
        if not isinstance(column, str):
            raise TypeError(f"column must be a column name (str), got {type(column).__name__}")
        super().__init__([column])
        self.column = column

    def _present_values(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[Any]]:
        """Positions of the present rows and their cells."""
        mask = self.present(frame)
        positions = np.flatnonzero(mask)
        cells = frame[self.column].tolist()
        return positions, [cells[i] for i in positions]

    def _no_training_values(self) -> ValueError:
        return ValueError(
            f"{self.kind.value} column {self.column!r} has no values in the training rows; "
            "drop the column or check the split"
        )


def require_arrays(arrays: dict[str, np.ndarray], names: Sequence[str], owner: str) -> None:
    """Raise a clear error when a saved state lacks arrays it needs."""
    missing = [n for n in names if n not in arrays]
    if missing:
        raise ValueError(f"{owner} state is missing array(s) {missing}; the saved model is incomplete")
