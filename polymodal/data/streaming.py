"""Tables larger than memory: read in chunks, sampled for fitting, split by a hash, streamed as batches.

Peak memory depends on the chunk size (and, for Parquet, the row-group size: a row group is the
smallest unit pyarrow decodes), never on the number of rows. Rows are always named by their global
position in the file (0-based, header excluded), as :func:`~polymodal.data.table.read_table` names them.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import torch
from torch.utils.data import IterableDataset, get_worker_info

from polymodal.data.dataset import Batch, EncodedData
from polymodal.data.pipeline import DataPipeline
from polymodal.data.schema import Schema
from polymodal.data.sources import GLOB_CHARACTERS, SHARD_SUFFIXES, TableSource, is_url, open_source
from polymodal.data.splits import split_by_column
from polymodal.data.table import Table, _string_columns
from polymodal.data.validation import ON_ERROR, LoadedTable, load_table
from polymodal.errors import DataError, Problem

STREAM_FORMATS = ("csv", "tsv", "parquet")


def stream_source(location: str | Path) -> TableSource:
    """The :class:`~polymodal.data.sources.TableSource` of ``location`` if it can be streamed (a CSV, TSV or
    Parquet file, a folder or glob of Parquet shards, local or remote); a precise error otherwise."""
    text = str(location)
    is_glob = bool(GLOB_CHARACTERS & set(text)) and text.lower().endswith(SHARD_SUFFIXES)
    if not is_url(text) and not is_glob and not Path(text).exists():
        raise DataError(f"table {Path(text)} does not exist or is not a file; streaming needs a CSV or Parquet file",
                        [Problem("file not found", file=str(Path(text)))])
    source = open_source(location)
    if source.format not in STREAM_FORMATS:
        raise DataError(f"cannot stream {source.location}: format {PurePosixPath(source.files[0]).suffix!r} is not "
                        "streamable; use a .csv, .tsv or .parquet file (or turn streaming off)")
    return source


def stream_format(path: str | Path) -> str:
    """The table format of ``path`` if it can be streamed (CSV, TSV, Parquet); a precise error otherwise."""
    return stream_source(path).format


def iter_table_chunks(path: str | Path, chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """Yield ``(start, frame)``: consecutive chunks of at most ``chunk_rows`` rows, where ``start`` is the
    global position of the chunk's first row; the frame's index is ``start..start+len-1``. ``path`` is
    any location :func:`stream_source` accepts (shards are read in path order).

    Example
    -------
    >>> for start, frame in iter_table_chunks("big.parquet", 10_000):  # doctest: +SKIP
    ...     print(start, len(frame))
    """
    if int(chunk_rows) < 1:
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows}")
    source = stream_source(path)
    for start, frame in source.iter_chunks(int(chunk_rows)):
        yield start, _string_columns(frame, source.location)


def count_rows(path: str | Path, chunk_rows: int = 65536) -> int:
    """Rows in the table (Parquet: from the footers; CSV: one streamed pass)."""
    return stream_source(path).count_rows(chunk_rows)


def _hash_unit(positions: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """A seeded hash of each row position as a float in [0, 1) (splitmix64 finaliser)."""
    x = positions.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15 + salt) % 2**64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


def hash_split(positions: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """True for the rows (global positions) that belong to validation.

    A row's side depends only on its position and ``seed``: no index of all rows is kept, and every
    pass over the file (any chunk size) puts a row on the same side. About ``val_fraction`` of the
    rows are validation rows (not stratified).
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    return _hash_unit(np.asarray(positions), seed, salt=1) < val_fraction


def sample_rows(path: str | Path, n: int, seed: int = 0, chunk_rows: int = 65536) -> pd.DataFrame:
    """A uniform sample of ``n`` rows (all rows if the table has fewer), in file order, indexed by
    global position.

    It is a bottom-k sample: the ``n`` rows with the smallest seeded hash of their position, kept while
    streaming, so memory holds ``n`` rows plus one chunk. The same ``seed`` gives the same rows. Once ``n``
    rows are kept, a chunk's rows whose hash is not below the largest kept one can never enter the sample
    and are dropped before the merge: over a table of ``N`` rows only about ``n (1 + ln(N / n))`` rows are
    ever merged, so the sample's memory does not churn with the table's size.
    """
    if int(n) < 1:
        raise ValueError(f"the sample size must be a positive integer, got {n}")
    kept: pd.DataFrame | None = None
    keys = np.empty(0)
    for _, frame in iter_table_chunks(path, chunk_rows):
        frame_keys = _hash_unit(frame.index.to_numpy(), seed, salt=2)
        if len(keys) >= int(n):  # full: only rows hashed below the largest kept key can enter
            below = frame_keys < keys.max()
            if not below.any():
                continue
            frame, frame_keys = frame[below], frame_keys[below]
        frame = _owned_cells(frame)
        pool = frame if kept is None else pd.concat([kept, frame])
        all_keys = np.concatenate([keys, frame_keys])
        best = np.sort(np.argsort(all_keys, kind="stable")[: int(n)])
        kept, keys = pool.iloc[best], all_keys[best]
    if kept is None:
        raise DataError(f"the table {path} is empty: it has no rows", [Problem("no rows")])
    return kept


def _owned_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with array cells (Parquet list columns) copied out of the chunk they were read with.

    pyarrow converts a list column to numpy arrays that view the chunk's buffers, so a row kept from a chunk
    would keep the whole chunk alive; a sample of ``n`` rows drawn from many chunks would hold them all.
    """
    copied = {}
    for column in frame.select_dtypes(include="object").columns:
        values = frame[column].to_numpy()
        if any(isinstance(v, np.ndarray) and v.base is not None for v in values):
            owned = np.empty(len(values), dtype=object)
            owned[:] = [v.copy() if isinstance(v, np.ndarray) else v for v in values]
            copied[column] = owned
    if not copied:
        return frame
    frame = frame.copy()
    for column, owned in copied.items():
        frame[column] = owned
    return frame


def load_chunk(frame: pd.DataFrame, schema: Schema, base_dir: Path | str, source: str, on_error: str,
               data_root: str | Path | None = None,
               max_image_pixels: int | dict[str, int] | None = None) -> LoadedTable:
    """:func:`~polymodal.data.validation.load_table` on a chunk whose index holds global row positions;
    the rows of the result and of every problem are global positions. Under ``skip`` a chunk whose rows
    all lack a usable target loads as zero rows."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    positions = frame.index.to_numpy()
    table = Table(frame.reset_index(drop=True), base_dir, source)
    try:
        loaded = load_table(table, schema, on_error="skip", data_root=data_root, max_image_pixels=max_image_pixels)
    except DataError as exc:
        if not exc.problems or not all(p.row is not None for p in exc.problems):
            raise  # a table-level problem (missing column), not bad cells
        if on_error == "raise":
            _raise_cells(exc.problems, positions, source)
        return _empty_chunk(schema, frame, positions, exc.problems)
    problems = [_globalise(p, positions) for p in loaded.report.problems]
    if on_error == "raise" and any(p.severity == "error" for p in problems):
        _raise_cells(loaded.report.problems, positions, source)
    loaded.report.problems = problems
    loaded.report.dropped_rows = [int(positions[r]) for r in loaded.report.dropped_rows]
    loaded.rows = positions[loaded.rows]
    return loaded


def _globalise(problem: Problem, positions: np.ndarray) -> Problem:
    return problem if problem.row is None else dataclasses.replace(problem, row=int(positions[problem.row]))


def _raise_cells(problems: list[Problem], positions: np.ndarray, source: str) -> None:
    errors = [_globalise(p, positions) for p in problems if p.severity == "error"]
    raise DataError(f"{len(errors)} problem(s) in {source} (rows {positions[0]}-{positions[-1]}); fix them, "
                    "or pass --on-error skip to treat unreadable cells as missing modalities", errors)


def _empty_chunk(schema: Schema, frame: pd.DataFrame, positions: np.ndarray, problems: list[Problem]) -> LoadedTable:
    from polymodal.data.validation import ValidationReport

    report = ValidationReport(n_rows=len(frame), problems=[_globalise(p, positions) for p in problems])
    report.dropped_rows = [int(p) for p in positions]
    empty = frame.iloc[:0]
    modalities = {s.name: empty[s.columns].reset_index(drop=True) for s in schema.modalities}
    targets = empty[[t.column for t in schema.targets]].reset_index(drop=True)
    return LoadedTable(modalities, targets, np.empty(0, dtype=np.int64), report)


@dataclass
class StreamReport:
    """What ``skip`` did over a whole streamed pass: counts, and the positions of the dropped rows."""

    rows_read: int = 0
    rows_used: int = 0
    skipped_cells: Counter[str] = field(default_factory=Counter)
    dropped_rows: list[int] = field(default_factory=list)

    def add(self, n_read: int, loaded: LoadedTable) -> None:
        self.rows_read += n_read
        self.rows_used += len(loaded.rows)
        self.skipped_cells.update(loaded.report.skipped_cells)
        self.dropped_rows.extend(loaded.report.dropped_rows)


def concat_encoded(parts: list[EncodedData]) -> EncodedData:
    """Encoded pieces (same modalities and targets) joined row-wise."""
    first = parts[0]
    return EncodedData(
        {k: torch.cat([p.inputs[k] for p in parts]) for k in first.inputs},
        {k: torch.cat([p.masks[k] for p in parts]) for k in first.masks},
        {k: torch.cat([p.targets[k] for p in parts]) for k in first.targets},
        np.concatenate([p.rows for p in parts]),
    )


SPLITS = ("train", "val", "test", "all")


def split_masks(frame: pd.DataFrame, val_fraction: float, seed: int,
                split_column: str | None = None) -> dict[str, np.ndarray]:
    """Which rows of a chunk (indexed by global position) belong to each split: the rows the split column
    marks as test (none without one) are ``test``; of the others, :func:`hash_split` picks ``val``."""
    test = np.zeros(len(frame), dtype=bool)
    if split_column:
        test[split_by_column(frame, split_column)[1]] = True
    val = hash_split(frame.index.to_numpy(), val_fraction, seed) & ~test
    return {"train": ~val & ~test, "val": val, "test": test, "all": np.ones(len(frame), dtype=bool)}


def process_shard() -> tuple[int, int]:
    """This process's rank and the number of processes of a ``torch.distributed`` run ((0, 1) otherwise);
    read in DataLoader workers too (they inherit the process group's state when forked)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class StreamingDataset(IterableDataset[Batch]):
    """Batches of one split of a table (``train``, ``val``, ``test`` or ``all``; see :func:`split_masks`), read
    chunk by chunk, validated, and transformed by a fitted :class:`~polymodal.data.pipeline.DataPipeline`.

    Use it with ``DataLoader(dataset, batch_size=None)``: it yields whole batches. Training batches
    are shuffled within a chunk (seeded by the epoch: :meth:`set_epoch`, which the training loop calls, so
    a resumed run sees the batches an uninterrupted one would); chunks stay in file order, so a file sorted
    by its target should be shuffled once beforehand. With DataLoader workers in one process, worker ``i``
    reads chunks ``i, i + workers, ...``. Under ``torch.distributed`` with ``R`` processes (and ``W``
    workers each) the split's rows are dealt by their order in the split to the ``R * W`` readers, so that
    each row is seen once per epoch over all processes, and every process yields the same number of
    batches (a reader's one extra row joins its last batch): DDP needs that to stay in step. ``report``
    counts what ``skip`` did in the last pass (in the main process only, i.e. without workers).
    """

    def __init__(self, path: str | Path, pipeline: DataPipeline, split: str, *, val_fraction: float,
                 seed: int = 0, batch_size: int = 64, chunk_rows: int = 10000, shuffle: bool = False,
                 on_error: str = "raise", data_root: str | Path | None = None,
                 base_dir: str | Path | None = None, split_column: str | None = None) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}")
        source = stream_source(path)
        self.path, self.pipeline, self.split = path if is_url(str(path)) else Path(path), pipeline, split
        self.val_fraction, self.seed, self.batch_size = val_fraction, seed, int(batch_size)
        self.chunk_rows, self.shuffle, self.on_error, self.data_root = int(chunk_rows), shuffle, on_error, data_root
        self.split_column = split_column
        self.base_dir: Path | str = Path(base_dir) if base_dir is not None else source.base
        self.epoch = 0
        self.report = StreamReport()
        self._split_rows: int | None = None

    def set_epoch(self, epoch: int) -> None:
        """Shuffle the next pass as epoch ``epoch`` (0-based)."""
        self.epoch = int(epoch)

    def split_rows(self) -> int:
        """Rows of this split in the table (one pass, counted once)."""
        if self._split_rows is None:
            self._split_rows = sum(int(self._mask(frame).sum()) for _, frame in iter_table_chunks(self.path,
                                                                                                   self.chunk_rows))
        return self._split_rows

    def _mask(self, frame: pd.DataFrame) -> np.ndarray:
        return split_masks(frame, self.val_fraction, self.seed, self.split_column)[self.split]

    def _readers(self) -> tuple[int, int, bool]:
        """This reader's index, the number of readers, and whether rows (not chunks) are dealt: across
        processes, so that every process gets as many rows as the others (give or take one)."""
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rank, world = process_shard()
        return rank * workers + worker, world * workers, world > 1

    def encoded_chunks(self) -> Iterator[EncodedData]:
        """This split's rows, chunk by chunk, encoded (this reader's share)."""
        reader, readers, by_row = self._readers()
        self.report = StreamReport()
        before = 0  # rows of the split in the chunks before this one
        for i, (_, frame) in enumerate(iter_table_chunks(self.path, self.chunk_rows)):
            if not by_row and i % readers != reader:
                continue
            part = frame[self._mask(frame)]
            if by_row:
                mine = (before + np.arange(len(part))) % readers == reader
                before += len(part)
                part = part[mine]
            if part.empty:
                continue
            loaded = load_chunk(part, self.pipeline.schema, self.base_dir, str(self.path), self.on_error,
                                self.data_root, self.pipeline.image_pixel_limits())
            self.report.add(len(part), loaded)
            if len(loaded.rows):
                yield self.pipeline.transform(loaded)

    def _batch_limit(self) -> int | None:
        """Under several processes, the batches every reader yields (its extra row, if any, joins the last)."""
        _, readers, by_row = self._readers()
        if not by_row:
            return None
        least = self.split_rows() // readers
        if least == 0:
            raise DataError(f"the {self.split} split of {self.path} has {self.split_rows()} row(s), fewer than the "
                            f"{readers} readers (processes x loader workers) it is dealt to; use fewer processes or "
                            "workers, or more rows")
        return -(-least // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        limit = self._batch_limit()
        pending: EncodedData | None = None
        held: EncodedData | None = None  # the last full batch, held back while rows may still join it
        yielded = 0
        for data in self.encoded_chunks():
            if self.shuffle:
                data = data.subset(rng.permutation(len(data)))
            data = data if pending is None else concat_encoded([pending, data])
            full = len(data) - len(data) % self.batch_size
            for start in range(0, full, self.batch_size):
                if held is not None:
                    yield _batch(held)
                    yielded += 1
                held = data.subset(np.arange(start, start + self.batch_size))
            pending = data.subset(np.arange(full, len(data))) if full < len(data) else None
        if held is not None and pending is not None and limit is not None and yielded + 1 >= limit:
            held, pending = concat_encoded([held, pending]), None  # one batch more than the others: join it
        for last in (held, pending):
            if last is not None:
                yield _batch(last)


def _batch(data: EncodedData) -> Batch:
    return data.inputs, data.masks, data.targets

