"""One data path: a table in; its schema, fitted preprocessing, encoded splits and batches out.

A :class:`DataModule` owns every step between a user's table and the training loop, as Lightning's
``LightningDataModule`` does: read -> schema -> preprocessing (chosen by the caller once the schema is
known, e.g. a pretrained encoder's processor or a transferred bundle's preprocessors) -> load -> split ->
fit -> encode -> loaders; and, once fitted, :meth:`DataModule.encode` for new tables. Two variants share
the interface: :class:`TableDataModule` holds the encoded table in memory; :class:`StreamingDataModule`
fits on a sample and reads the table chunk by chunk at every pass
(:class:`~polymodal.data.streaming.StreamingDataset`).

Example
-------
>>> dm = TableDataModule("digits.csv", DataConfig(targets=["digit"]), supervised=True)  # doctest: +SKIP
>>> dm.schema.modalities                                         # doctest: +SKIP
>>> dm.setup(Preparation()).train_dataloader(TrainConfig())      # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import warnings
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from polymodal.config import DataConfig, TrainConfig, resolve_data_root
from polymodal.data.cells import is_missing
from polymodal.data.dataset import EncodedData, EncodedDataset, collate_batch
from polymodal.data.pipeline import DataPipeline
from polymodal.data.preprocessing import Preprocessor
from polymodal.data.schema import Schema, TaskKind, infer_schema
from polymodal.data.sources import TableSource, is_url
from polymodal.data.splits import split_by_column, stratified_split
from polymodal.data.streaming import (
    StreamingDataset,
    StreamReport,
    load_chunk,
    sample_rows,
    split_masks,
    stream_source,
)
from polymodal.data.table import Table, read_table
from polymodal.data.validation import LoadedTable, ValidationReport, load_table
from polymodal.data.weights import sample_weight_values, with_sample_weights
from polymodal.errors import DataError, PolymodalWarning

TableLike = str | Path | pd.DataFrame | Table


@dataclass(frozen=True)
class Preparation:
    """How the modalities are preprocessed, chosen by the caller from the schema: options per modality
    name or kind (``{"image": {"image_size": 32}}``), and preprocessors fitted elsewhere (a transferred
    bundle's), used as they are."""

    preprocess: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    fitted: Mapping[str, Preprocessor] | None = None


def _same_preparation(a: Preparation, b: Preparation | None) -> bool:
    # preprocessors transferred from one bundle are loaded anew by each run: the same names, the same bundle
    return b is not None and dict(a.preprocess) == dict(b.preprocess) and set(a.fitted or {}) == set(b.fitted or {})


def left_out_columns(data: DataConfig, supervised: bool) -> list[str]:
    """The columns a run never takes as inputs: the ignored ones, the split column and, without supervision
    (pretraining), the target columns (labels)."""
    return [*data.ignore, *(c for c in (data.split_column, data.sample_weight) if c),
            *([] if supervised else data.targets)]


def table_schema(frame: pd.DataFrame, data: DataConfig, supervised: bool) -> Schema:
    """The schema of ``frame`` under ``data``: the columns of :func:`left_out_columns` are never inputs."""
    if data.sample_weight is not None and not supervised:
        raise ValueError("sample weights (sample_weight, --sample-weight) weigh a supervised loss; pretraining "
                         "has none: leave the option out")
    if data.sample_weight is not None and data.sample_weight in data.targets:
        raise ValueError(f"column {data.sample_weight!r} is both a target and the sample weight column; "
                         "choose one")
    ignore = left_out_columns(data, supervised)
    if not supervised:
        return infer_schema(frame, [], data.modalities, {}, ignore=ignore, group_tabular=data.group_tabular)
    return infer_schema(frame, data.targets, data.modalities, data.tasks, ignore=ignore,
                        group_tabular=data.group_tabular)


def split_rows(loaded: LoadedTable, frame: pd.DataFrame, split_column: str | None, val_fraction: float,
               seed: int, stratify: str | None = None) -> dict[str, np.ndarray]:
    """Positions in ``loaded`` of the training, validation and test rows. The test rows are those the
    split column marks (none without one); the others are split, stratified by the loaded target
    ``stratify`` when given."""
    positions = np.arange(len(loaded.rows))
    test = np.empty(0, dtype=np.int64)
    if split_column:
        _, test_rows = split_by_column(frame, split_column)
        in_test = np.isin(loaded.rows, test_rows)
        positions, test = np.flatnonzero(~in_test), np.flatnonzero(in_test)
        if len(positions) == 0:
            raise DataError(f"split column {split_column!r} marks every row as test")
    labels = loaded.targets[stratify].iloc[positions].to_numpy() if stratify is not None else None
    unlabelled = (np.fromiter((is_missing(v) for v in labels), bool, len(labels)) if labels is not None
                  else np.zeros(len(positions), dtype=bool))
    if labels is not None and unlabelled.any() and min(unlabelled.sum(), (~unlabelled).sum()) >= 2:
        # partial labels: the rows holding the first target are stratified by it, the others split apart
        present, absent = positions[~unlabelled], positions[unlabelled]
        tr, va = stratified_split(len(present), labels[~unlabelled], val_fraction, seed)
        tr2, va2 = stratified_split(len(absent), None, val_fraction, seed)
        return {"train": np.sort(np.concatenate([present[tr], absent[tr2]])),
                "val": np.sort(np.concatenate([present[va], absent[va2]])), "test": test}
    tr, va = stratified_split(len(positions), None if unlabelled.any() else labels, val_fraction, seed)
    return {"train": positions[tr], "val": positions[va], "test": test}


def make_loader(data: EncodedData, config: TrainConfig, shuffle: bool, drop_last: bool = False) -> DataLoader:
    """Batches of ``config.batch_size`` samples of ``data``, seeded; ``drop_last`` leaves out an incomplete
    last batch (an error when that would leave no batch at all)."""
    if drop_last and len(data) < config.batch_size:
        raise ValueError(f"drop_last with batch_size {config.batch_size} leaves no batch of the {len(data)} "
                         f"sample(s): use a batch_size of at most {len(data)}")
    generator = torch.Generator().manual_seed(config.seed)
    return DataLoader(
        EncodedDataset(data), batch_size=config.batch_size, shuffle=shuffle, generator=generator,
        num_workers=config.num_workers, persistent_workers=config.num_workers > 0, drop_last=drop_last,
        collate_fn=collate_batch,
    )


class DataModule(ABC):
    """The data of one run. ``schema`` is known before :meth:`setup`; :meth:`setup` fits the
    preprocessing on the training rows; then the loaders give batches and :meth:`encode` encodes new
    tables as the training rows were."""

    def __init__(self, data: DataConfig, *, supervised: bool = True, val_fraction: float = 0.2,
                 seed: int = 0) -> None:
        self.data, self.supervised = data, supervised
        self.val_fraction, self.seed = val_fraction, seed
        self.pipeline: DataPipeline | None = None
        self._preparation: Preparation | None = None

    @property
    @abstractmethod
    def schema(self) -> Schema:
        """The table's modalities and targets (read from the table, or from its sample when streamed)."""

    @property
    @abstractmethod
    def frame(self) -> pd.DataFrame:
        """The rows the schema is inferred from (the whole table, or the fit sample when streamed)."""

    @property
    def left_out(self) -> list[str]:
        """The table's columns this run never takes as inputs (:func:`left_out_columns`)."""
        return left_out_columns(self.data, self.supervised)

    @property
    def kinds(self) -> dict[str, Any]:
        return {m.name: m.kind for m in self.schema.modalities}

    @property
    def fitted(self) -> DataPipeline:
        """The fitted pipeline; an error before :meth:`setup`."""
        if self.pipeline is None:
            raise RuntimeError("the data module is not set up; call setup(preparation) first")
        return self.pipeline

    def setup(self, preparation: Preparation | None = None) -> DataModule:
        """Load, split, fit the preprocessing on the training rows and encode. Calling it again with the
        same preparation does nothing (a tuning study sets one module up for all its trials)."""
        preparation = preparation or Preparation()
        if self.pipeline is not None:
            if not _same_preparation(preparation, self._preparation):
                raise ValueError("this data module is already set up with other preprocessing; make a new one")
            return self
        self._setup(DataPipeline(self.schema, preparation.preprocess, fitted=preparation.fitted))
        self._preparation = preparation
        return self

    @abstractmethod
    def _setup(self, pipeline: DataPipeline) -> None: ...

    @property
    def last_report(self) -> ValidationReport | None:
        """The validation report of the whole table (None when streamed: see the run's ``skipped``)."""
        return None

    @property
    @abstractmethod
    def n_train(self) -> int:
        """Training rows (of the fit sample when streamed): what presets scale by."""

    @property
    def rows_per_epoch(self) -> int | None:
        """Training rows per epoch when known before a pass (None when streamed: counted while training)."""
        return None

    @abstractmethod
    def train_dataloader(self, config: TrainConfig) -> DataLoader: ...

    @abstractmethod
    def val_dataloader(self, config: TrainConfig) -> DataLoader: ...

    @abstractmethod
    def chunks(self, split: str) -> Iterator[EncodedData]:
        """The encoded rows of ``split`` (``train``, ``val`` or ``test``), in one piece or chunk by chunk."""

    @abstractmethod
    def summary(self) -> dict[str, Any]:
        """The rows of each split and what was skipped, for a run's metrics."""

    @abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """What identifies the rows trained and validated on, for resuming a run."""

    @abstractmethod
    def fit_rows(self) -> EncodedData:
        """Encoded training rows held in memory (all of them, or the fit sample's when streamed)."""

    @abstractmethod
    def baseline_rows(self) -> tuple[EncodedData, dict[str, np.ndarray]] | None:
        """Encoded rows and their splits for the classical baseline (None when there is no validation row)."""

    # -- prediction: new tables encoded as the training rows were ------------------------------------
    def load(self, table: TableLike, with_targets: bool = True, on_error: str | None = None,
             data_root: str | Path | None = None, strict_columns: bool = False) -> LoadedTable:
        """The raw cells of ``table`` under the fitted schema, before preprocessing; with targets and
        ``on_error="skip"`` the rows holding labels never seen in training are dropped (reported)."""
        return load_for(self.fitted, self.data, table, with_targets, on_error, data_root, strict_columns)

    def encode(self, table: TableLike, with_targets: bool = False, on_error: str | None = None,
               data_root: str | Path | None = None, strict_columns: bool = False) -> EncodedData:
        """``table`` loaded and preprocessed by the fitted pipeline."""
        loaded = self.load(table, with_targets, on_error, data_root, strict_columns)
        return self.fitted.transform(loaded, with_targets=with_targets)


def with_absent_modalities(table: Table, schema: Schema, strict: bool = False) -> Table:
    """``table`` with the columns of each modality it lacks entirely added as missing cells (that modality is
    missing in every row; a warning names it), unless ``strict``: then, as when only some of a modality's
    columns are absent, loading reports the columns the table lacks."""
    absent = [m for m in schema.modalities if not any(c in table.frame.columns for c in m.columns)]
    if strict or not absent or len(absent) == len(schema.modalities):
        return table
    for spec in absent:
        warnings.warn(f"the table {table.source} has no column of modality {spec.name!r} "
                      f"({', '.join(spec.columns)}): it is treated as missing in every row "
                      "(--strict-columns refuses such a table)", PolymodalWarning, stacklevel=3)
    frame = table.frame.copy()
    for column in (c for m in absent for c in m.columns):
        frame[column] = None
    return Table(frame, table.base_dir, table.source)


def load_for(pipeline: DataPipeline, data: DataConfig, table: TableLike, with_targets: bool = True,
             on_error: str | None = None, data_root: str | Path | None = None,
             strict_columns: bool = False) -> LoadedTable:
    """``table``'s cells under ``pipeline``'s schema (the prediction path of every model): the media
    files loaded as its preprocessors ask, within ``data``'s data root (or ``data_root``). A modality whose
    columns are all absent is missing in every row (see :func:`with_absent_modalities`)."""
    mode = on_error or data.on_error
    root = resolve_data_root(data_root) if data_root is not None else data.data_root
    tbl = with_absent_modalities(read_table(table), pipeline.schema, strict=strict_columns)
    loaded = load_table(tbl, pipeline.schema, on_error=mode, data_root=root,
                        require_targets=with_targets, file_lookups=pipeline.file_lookups(),
                        max_image_pixels=pipeline.image_pixel_limits())
    if with_targets and mode == "skip" and pipeline.targets:
        loaded = pipeline.drop_unseen_labels(loaded)
    return loaded


class TableDataModule(DataModule):
    """The whole table in memory: read once, loaded, split (the split column's test rows held out, the
    rest stratified by the first classification target), fitted on the training rows, encoded."""

    def __init__(self, table: TableLike, data: DataConfig, *, supervised: bool = True, val_fraction: float = 0.2,
                 seed: int = 0) -> None:
        super().__init__(data, supervised=supervised, val_fraction=val_fraction, seed=seed)
        self.table = read_table(table)
        self._schema: Schema | None = None
        self.loaded: LoadedTable | None = None
        self.splits: dict[str, np.ndarray] = {}
        self.encoded: EncodedData | None = None

    @classmethod
    def from_pipeline(cls, pipeline: DataPipeline, data: DataConfig) -> TableDataModule:
        """A module for encoding new tables with an already fitted pipeline (a loaded bundle's)."""
        module = cls.__new__(cls)
        DataModule.__init__(module, data, supervised=bool(pipeline.targets))
        module.table, module._schema, module.pipeline = None, pipeline.schema, pipeline  # type: ignore[assignment]
        module.loaded, module.splits, module.encoded = None, {}, None
        return module

    @property
    def frame(self) -> pd.DataFrame:
        return self.table.frame

    @property
    def schema(self) -> Schema:
        if self._schema is None:
            self._schema = table_schema(self.table.frame, self.data, self.supervised)
        return self._schema

    def _setup(self, pipeline: DataPipeline) -> None:
        data = self.data
        weights = (sample_weight_values(self.table.frame, data.sample_weight, str(self.table.source))
                   if data.sample_weight is not None else None)
        loaded = load_table(self.table, self.schema, on_error=data.on_error, data_root=data.data_root,
                            require_targets=self.supervised, file_lookups=pipeline.file_lookups(),
                            max_image_pixels=pipeline.image_pixel_limits())
        first = self.schema.targets[0] if self.schema.targets else None
        stratify = first.column if first is not None and first.task in (TaskKind.BINARY, TaskKind.MULTICLASS) else None
        splits = split_rows(loaded, self.table.frame, data.split_column, self.val_fraction, self.seed, stratify)
        pipeline.fit(loaded, splits["train"])
        if self.supervised and data.on_error == "skip":  # skip drops the rows whose target is unusable, unseen too
            loaded, splits = _without_unseen_labels(pipeline, loaded, splits)
        self.loaded, self.splits, self.pipeline = loaded, splits, pipeline
        self.encoded = pipeline.transform(loaded, with_targets=self.supervised)
        if weights is not None:
            self.encoded = with_sample_weights(self.encoded, weights)

    @property
    def report(self) -> ValidationReport:
        if self.loaded is None:
            raise RuntimeError("the data module is not set up; call setup(preparation) first")
        return self.loaded.report

    @property
    def last_report(self) -> ValidationReport | None:
        return self.loaded.report if self.loaded is not None else None

    def split(self, name: str) -> EncodedData:
        """The encoded rows of split ``name`` (``train``, ``val`` or ``test``)."""
        if self.encoded is None:
            raise RuntimeError("the data module is not set up; call setup(preparation) first")
        return self.encoded.subset(self.splits[name])

    def keep_complete_rows(self, splits: Sequence[str]) -> None:
        """Keep in each of ``splits`` only the rows that hold every modality (deep CCA correlates the views
        of a row: it needs them all)."""
        if self.encoded is None:
            raise RuntimeError("the data module is not set up; call setup(preparation) first")
        masks = self.encoded.masks
        complete = np.logical_and.reduce([masks[n].numpy() for n in sorted(masks)])
        for name in splits:
            index = self.splits[name]
            self.splits[name] = index[complete[index]]

    @property
    def n_train(self) -> int:
        return len(self.splits["train"])

    @property
    def rows_per_epoch(self) -> int | None:
        return self.n_train

    def train_dataloader(self, config: TrainConfig) -> DataLoader:
        # only training batches are dropped: validation scores every sample
        return make_loader(self.split("train"), config, True, drop_last=config.drop_last)

    def val_dataloader(self, config: TrainConfig) -> DataLoader:
        return make_loader(self.split("val"), config, False)

    def chunks(self, split: str) -> Iterator[EncodedData]:
        if len(self.splits[split]):
            yield self.split(split)

    def summary(self) -> dict[str, Any]:
        return {"sizes": {k: len(v) for k, v in self.splits.items()},
                "skipped": {"cells": dict(self.report.skipped_cells), "rows": self.report.dropped_rows}}

    def fingerprint(self) -> dict[str, Any]:
        return {name: rows_digest(index) for name, index in self.splits.items()}

    def fit_rows(self) -> EncodedData:
        return self.split("train")

    def baseline_rows(self) -> tuple[EncodedData, dict[str, np.ndarray]] | None:
        if self.encoded is None or not len(self.splits["val"]):
            return None
        return self.encoded, self.splits


def rows_digest(index: np.ndarray) -> dict[str, Any]:
    """The count and a hash of row positions (what a resumed run compares)."""
    return {"count": len(index), "sha256": hashlib.sha256(np.asarray(index, dtype=np.int64).tobytes()).hexdigest()}


def _without_unseen_labels(pipeline: DataPipeline, loaded: LoadedTable,
                           splits: dict[str, np.ndarray]) -> tuple[LoadedTable, dict[str, np.ndarray]]:
    """``loaded`` without the validation and test rows whose labels the training rows never held (reported
    as dropped), and ``splits`` moved to the positions of the rows that are left."""
    kept = pipeline.drop_unseen_labels(loaded)
    if kept is loaded:
        return loaded, splits
    position = np.full(len(loaded.rows), -1, dtype=np.int64)
    keep = np.isin(loaded.rows, kept.rows)
    position[keep] = np.arange(int(keep.sum()))
    return kept, {name: position[idx][position[idx] >= 0] for name, idx in splits.items()}


class StreamingDataModule(DataModule):
    """A table larger than memory (a file, a folder or glob of Parquet shards, local or remote): the schema
    and preprocessing fitted on a seeded sample of ``data.fit_sample_rows`` rows (its training rows), then
    every pass reads the table in chunks of ``data.chunk_rows`` rows. The split column's test rows are held
    out; the other rows go to training or validation by a seeded hash of their position
    (:func:`~polymodal.data.streaming.split_masks`). Under several processes each row is read by one of them
    (:class:`~polymodal.data.streaming.StreamingDataset`)."""

    def __init__(self, table: Any, data: DataConfig, *, supervised: bool = True, val_fraction: float = 0.2,
                 seed: int = 0) -> None:
        super().__init__(data, supervised=supervised, val_fraction=val_fraction, seed=seed)
        if data.sample_weight is not None:
            raise ValueError("sample weights (sample_weight, --sample-weight) do not work with streamed tables "
                             "(data.stream) yet: turn streaming off, or leave the weights out (class weights, "
                             "--class-weight, do work when streaming)")
        self.source = _streamable(table)
        self.path: str | Path = table if isinstance(table, str) and is_url(table) else Path(table)
        self._sample = sample_rows(self.path, data.fit_sample_rows, seed=seed, chunk_rows=data.chunk_rows)
        if data.split_column and data.split_column not in self._sample.columns:
            split_by_column(self._sample, data.split_column)  # the error naming the table's columns
        self._schema = table_schema(self._sample.reset_index(drop=True), data, supervised)
        self._sample_encoded: EncodedData | None = None
        self._sample_train = np.empty(0, dtype=np.int64)
        self._sample_val = np.empty(0, dtype=np.int64)
        self.sets: dict[str, StreamingDataset] = {}

    @property
    def frame(self) -> pd.DataFrame:
        return self._sample

    @property
    def schema(self) -> Schema:
        return self._schema

    def _setup(self, pipeline: DataPipeline) -> None:
        data = self.data
        loaded = load_chunk(self._sample, self.schema, self.source.base, str(self.path), data.on_error,
                            data.data_root)
        frame = self._sample.loc[loaded.rows]
        masks = split_masks(frame, self.val_fraction, self.seed, data.split_column)
        train_rows, val_rows = np.flatnonzero(masks["train"]), np.flatnonzero(masks["val"])
        if len(train_rows) == 0:
            raise ValueError(f"the fit sample of {self.path} has no training row; raise fit_sample_rows")
        pipeline.fit(loaded, train_rows)
        self.pipeline, self._sample_train, self._sample_val = pipeline, train_rows, val_rows
        self._sample_encoded = pipeline.transform(loaded, with_targets=self.supervised)

    @property
    def n_train(self) -> int:
        return len(self._sample_train)

    def dataset(self, split: str, batch_size: int = 64) -> StreamingDataset:
        """A stream of ``split``'s batches (kept: its ``report`` tells what the last pass skipped)."""
        data = self.data
        self.sets[split] = StreamingDataset(
            self.path, self.fitted, split, val_fraction=self.val_fraction, seed=self.seed,
            batch_size=batch_size, chunk_rows=data.chunk_rows, shuffle=split == "train",
            on_error=data.on_error, data_root=data.data_root, split_column=data.split_column)
        return self.sets[split]

    def _loader(self, split: str, config: TrainConfig) -> DataLoader:
        # workers are started afresh every epoch, so that each sees the epoch the training loop sets
        return DataLoader(self.dataset(split, config.batch_size), batch_size=None, num_workers=config.num_workers)

    def train_dataloader(self, config: TrainConfig) -> DataLoader:
        return self._loader("train", config)

    def val_dataloader(self, config: TrainConfig) -> DataLoader:
        return self._loader("val", config)

    def pass_report(self, split: str) -> StreamReport:
        """What ``skip`` did in the last pass over ``split`` (in the main process only)."""
        return self.sets[split].report if split in self.sets else StreamReport()

    def chunks(self, split: str) -> Iterator[EncodedData]:
        if split == "test" and not self.data.split_column:
            return iter(())
        return self.dataset(split).encoded_chunks()

    def summary(self) -> dict[str, Any]:
        reports = {split: self.pass_report(split) for split in ("train", "val", "test")}  # the last pass of each
        sizes = {split: r.rows_used for split, r in reports.items() if split != "test" or self.data.split_column}
        return {"sizes": {**sizes, "fit_sample_train": self.n_train},
                "skipped": {"cells": dict(sum((r.skipped_cells for r in reports.values()), Counter())),
                            "rows": sorted(row for r in reports.values() for row in r.dropped_rows)},
                "stream": {"chunk_rows": self.data.chunk_rows, "fit_sample_rows": self.data.fit_sample_rows}}

    def fingerprint(self) -> dict[str, Any]:
        return {"source": self.source.location, "files": source_identity(self.source),
                "val_fraction": self.val_fraction, "seed": self.seed, "chunk_rows": self.data.chunk_rows,
                "split_column": self.data.split_column}

    def fit_rows(self) -> EncodedData:
        if self._sample_encoded is None:
            raise RuntimeError("the data module is not set up; call setup(preparation) first")
        return self._sample_encoded.subset(self._sample_train)

    def baseline_rows(self) -> tuple[EncodedData, dict[str, np.ndarray]] | None:
        if self._sample_encoded is None or not len(self._sample_val):
            return None
        return self._sample_encoded, {"train": self._sample_train, "val": self._sample_val}


def _streamable(table: Any) -> TableSource:
    if not isinstance(table, (str, Path)):
        raise TypeError(f"streaming reads a table file (CSV or Parquet path), got {type(table).__name__}; "
                        "pass the file's path, or turn streaming off for a table already in memory")
    return stream_source(table)


def source_identity(source: TableSource) -> list[dict[str, Any]]:
    """Each file of ``source`` with its size (and modification time when local): a resumed run must read
    the same files."""
    out = []
    for name in source.files:
        if source.is_remote:
            info = source.filesystem.info(name)
            out.append({"file": name, "bytes": int(info.get("size") or 0)})
        else:
            stat = Path(name).stat()
            out.append({"file": str(Path(name).resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    return out


__all__ = [
    "DataModule",
    "Preparation",
    "StreamingDataModule",
    "TableDataModule",
    "left_out_columns",
    "load_for",
    "make_loader",
    "rows_digest",
    "split_rows",
    "table_schema",
]
