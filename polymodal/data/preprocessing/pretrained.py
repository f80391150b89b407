"""The preprocessing of a pretrained encoder: the backbone's own input preparation, or its frozen embeddings.

Selected per modality by the option ``pretrained=NAME`` (which :func:`polymodal.fit` adds when the
model config chooses a pretrained encoder for the modality). Nothing is fitted on the data (the
backbone's tokenizer, resize and sample rate are fixed), so the outputs of a sample do not depend on
the split or the seed, and frozen embeddings can be reused across runs.

- ``train="frozen"`` (default): the batch tensor is the backbone's embedding ``[N, D]``, computed once
  per distinct sample through the on-disk embedding cache (:mod:`polymodal.cache`); the encoder is
  :class:`~polymodal.encoders.pretrained.PrecomputedEmbedding`.
- ``train="last:N"`` / ``"full"`` / ``"lora:..."``: the batch tensor is the backbone's prepared input (pixels
  ``[N, 3, 224, 224]``, token ids ``[N, L]``, 16 kHz waveforms ``[N, T]``; an ``hf:`` model's processor
  outputs side by side); the encoder runs the backbone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from polymodal.data.file_sample import FileSample, decoded
from polymodal.data.kinds import ModalityKind
from polymodal.data.preprocessing.base import FileLookup, SingleColumnPreprocessor, is_missing, row_label

VARIANT = "pretrained"


class PretrainedPreprocessor(SingleColumnPreprocessor):
    """Base of the per-kind pretrained preprocessors (see the module docstring).

    Parameters
    ----------
    column:
        The modality's column.
    pretrained:
        Name of the pretrained encoder (``minilm``, ``efficientnet-lite0``, ``resemblyzer``, ``hf:NAME_OR_PATH``).
    train:
        ``"frozen"``, ``"last:N"``, ``"full"`` or ``"lora:..."`` (as the encoder argument of the same name).
    weights:
        A local model folder or checkpoint instead of the packaged weights.
    batch_size:
        Samples per backbone call when computing frozen embeddings.
    cache:
        Whether frozen embeddings go through the on-disk cache.
    cache_dir:
        The cache folder (default: ``$POLYMODAL_CACHE`` or ``~/.cache/polymodal``).
    **backbone_options:
        The backbone's own preparation options (``max_length`` for ``minilm``, ``duration`` for
        ``resemblyzer``; ``pooling``, ``max_length``, ``max_seconds`` for ``hf:`` models).

    Once fitted it records the backbone's weights digest (saved with a bundle): a backbone whose files
    now hold other weights is refused with a :class:`~polymodal.errors.BundleError`.
    """

    kind: ClassVar[ModalityKind]

    def __init__(self, column: str, pretrained: str, train: str = "frozen", weights: str | None = None,
                 batch_size: int = 32, cache: bool = True, cache_dir: str | None = None,
                 **backbone_options: Any) -> None:
        from polymodal.encoders.pretrained.catalog import pretrained_defaults, pretrained_kind
        from polymodal.encoders.pretrained.training import TrainMode

        super().__init__(column)
        encodes = pretrained_kind(pretrained)
        if encodes is not self.kind:
            raise ValueError(f"encoder {pretrained!r} encodes {encodes.value}, "
                             f"not {self.kind.value} (column {column!r})")
        defaults = pretrained_defaults(pretrained)
        unknown = sorted(set(backbone_options) - set(defaults))
        if unknown:
            valid = ["train", "weights", "batch_size", "cache", "cache_dir", *defaults]
            raise ValueError(f"unknown option(s) {unknown} for the {pretrained!r} preprocessing; valid: {valid}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.pretrained = pretrained
        self.mode = TrainMode.parse(train)
        self.weights = None if weights is None else str(weights)
        self.batch_size = int(batch_size)
        self.cache = bool(cache)
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        self.backbone_options = dict(backbone_options)
        self.weights_digest: str | None = None  # of the weights it was fitted with: other weights are refused
        self._stores: dict[Path, Any] = {}

    def options(self) -> dict[str, Any]:
        return {"column": self.column, "pretrained": self.pretrained, "train": str(self.mode),
                "weights": self.weights, "batch_size": self.batch_size, "cache": self.cache,
                "cache_dir": self.cache_dir, **self.backbone_options}

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = super().get_state()
        return {**state, "variant": VARIANT}, arrays

    @property
    def backbone(self) -> Any:
        """The shared, eval-mode backbone (loaded on first use); once fitted, only with the weights it was
        fitted with (:class:`~polymodal.errors.BundleError` otherwise)."""
        from polymodal.encoders.pretrained.catalog import shared_backbone

        backbone = shared_backbone(self.pretrained, self.weights, **self.backbone_options)
        backbone.check_weights(self.weights_digest, f"encoder {self.pretrained!r} (column {self.column!r})")
        return backbone

    def store(self) -> Any:
        """The cache namespace of this backbone and preparation, or ``None`` when caching is off.

        Kept per cache folder: the file lookup before loading and every transform share one index of
        the shards (a store indexes only the shards written since its last look)."""
        from polymodal.cache import EmbeddingStore, default_cache_dir, namespace

        root = Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()
        if not self.cache or root is None:
            return None
        if root not in self._stores or not self._stores[root].path.is_dir():  # new, or cleared since
            identity = self.backbone.identity()
            self._stores[root] = EmbeddingStore(root, namespace(str(identity["encoder"]), identity),
                                                self.backbone.output_dim, identity)
        return self._stores[root]

    def file_lookup(self) -> FileLookup | None:
        """Frozen: files are keyed by their bytes and decoded only when their embedding is not cached."""
        if not self.mode.frozen or self.kind is ModalityKind.TEXT:
            return None
        store = self.store()
        if store is None:
            return lambda keys: np.zeros(len(keys), dtype=bool)
        lookup: FileLookup = store.contains
        return lookup

    # ------------------------------------------------------------------ Preprocessor hooks
    def _fit(self, frame: pd.DataFrame, target: np.ndarray | None) -> None:
        positions, cells = self._present_values(frame)
        if not cells:
            raise self._no_training_values()
        for position, cell in zip(positions[:1], cells[:1]):
            self._check_cell(frame, position, decoded(cell))
        self.weights_digest = None
        self.dim_ = int(self.backbone.output_dim)
        self.weights_digest = str(self.backbone.weights_id)

    def _transform(self, frame: pd.DataFrame) -> torch.Tensor:
        from polymodal.cache.embed import embed_with_cache

        positions, cells = self._present_values(frame)
        cells = [c if isinstance(c, FileSample) else self._check_cell(frame, p, c) for p, c in zip(positions, cells)]
        backbone = self.backbone
        if self.mode.frozen:
            def embed(batch: list[Any]) -> np.ndarray:  # only the samples not in the cache are decoded
                return backbone.embed([self._check_cell(frame, -1, decoded(c)) for c in batch])

            out = torch.zeros(len(frame), self.dim_)
            values = embed_with_cache(embed, cells, self.store(), self.dim_, self.batch_size)
            out[torch.from_numpy(positions)] = torch.from_numpy(values)
            return out
        prepared = backbone.prepare([decoded(c) for c in cells])
        out = torch.zeros((len(frame), *backbone.input_shape()), dtype=prepared.dtype)
        out[torch.from_numpy(positions)] = prepared
        return out

    def _input_info(self) -> dict[str, Any]:
        return {"pretrained": self.pretrained, "train": str(self.mode), "weights": self.weights,
                "embedding_dim": self.dim_, "options": dict(self.backbone_options),
                "weights_digest": self.weights_digest}

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"embedding_dim": self.dim_, "weights_digest": self.weights_digest}, {}

    def _load_fitted_state(self, fitted: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.dim_ = int(fitted["embedding_dim"])
        digest = fitted.get("weights_digest")  # absent from bundles written before digests were recorded
        self.weights_digest = None if digest is None else str(digest)

    def _check_cell(self, frame: pd.DataFrame, position: int, cell: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _where(self, frame: pd.DataFrame, position: int) -> str:
        row = "" if position < 0 else f", row {row_label(frame, position)}"
        return f"column {self.column!r}{row}"


class PretrainedImagePreprocessor(PretrainedPreprocessor):
    kind = ModalityKind.IMAGE

    def _check_cell(self, frame: pd.DataFrame, position: int, cell: Any) -> Any:
        if not isinstance(cell, np.ndarray) or cell.dtype != np.uint8 or cell.ndim not in (2, 3):
            raise TypeError(f"{self._where(frame, position)}: expected a uint8 image array (H, W[, C]), "
                            f"got {type(cell).__name__}")
        return cell


class PretrainedAudioPreprocessor(PretrainedPreprocessor):
    kind = ModalityKind.AUDIO

    def _check_cell(self, frame: pd.DataFrame, position: int, cell: Any) -> Any:
        if not (isinstance(cell, tuple) and len(cell) == 2) or np.asarray(cell[0]).size == 0:
            raise TypeError(f"{self._where(frame, position)}: expected a non-empty (samples, sample_rate) tuple, "
                            f"got {type(cell).__name__}")
        return cell


class PretrainedTextPreprocessor(PretrainedPreprocessor):
    kind = ModalityKind.TEXT

    def present(self, frame: pd.DataFrame) -> np.ndarray:
        self._check_columns(frame)
        return np.fromiter((not is_missing(v) and not (isinstance(v, str) and not v.strip())
                            for v in frame[self.column]), dtype=bool, count=len(frame))

    def _check_cell(self, frame: pd.DataFrame, position: int, cell: Any) -> Any:
        if not isinstance(cell, str):
            raise TypeError(f"{self._where(frame, position)}: expected text (str), got {type(cell).__name__}")
        return cell


PRETRAINED_PREPROCESSORS: dict[ModalityKind, type[PretrainedPreprocessor]] = {
    cls.kind: cls for cls in (PretrainedImagePreprocessor, PretrainedAudioPreprocessor, PretrainedTextPreprocessor)
}
