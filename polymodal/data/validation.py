"""Load every cell of a table and report every problem at once, with file, row and column.

``on_error="raise"`` (the default) raises :class:`~polymodal.errors.DataError` listing every error;
``on_error="skip"`` treats an unreadable modality of a sample as missing (and drops rows whose target
is unusable) and reports the counts. Nothing is dropped silently: every skip is in the report.
"""

from __future__ import annotations

import errno
import functools
import math
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polymodal.data.cells import is_missing, media_kind, media_struct, parse_label_list, parse_vector, to_float
from polymodal.data.file_sample import FileSample
from polymodal.data.kinds import FILE_KINDS, ColumnKind
from polymodal.data.loading import (
    MAX_IMAGE_PIXELS,
    MediaData,
    UnreadableFile,
    audio_from_value,
    check_pixel_limit,
    image_from_value,
    load_audio,
    load_image,
    resolve_path,
)
from polymodal.data.preprocessing.base import FileLookup
from polymodal.data.schema import Schema, TaskKind
from polymodal.data.sources import read_bytes
from polymodal.data.table import Table
from polymodal.errors import DataError, Problem

ON_ERROR = ("raise", "skip")


class CellProblem(Exception):
    def __init__(self, message: str, hint: str | None = None, file: str | None = None) -> None:
        super().__init__(message)
        self.message, self.hint, self.file = message, hint, file


@dataclass
class ValidationReport:
    """Every problem found, plus what ``skip`` did about them."""

    n_rows: int
    problems: list[Problem] = field(default_factory=list)
    skipped_cells: Counter[str] = field(default_factory=Counter)  # column -> cells treated as missing
    dropped_rows: list[int] = field(default_factory=list)  # rows without a usable target

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    def skip_summary(self) -> str:
        parts = [f"{n} cell(s) of {col!r} treated as missing" for col, n in sorted(self.skipped_cells.items())]
        if self.dropped_rows:
            parts.append(f"{len(self.dropped_rows)} row(s) dropped for an unusable target")
        return "; ".join(parts) if parts else "nothing skipped"


@dataclass
class LoadedTable:
    """The loaded cells of every modality (one DataFrame per modality) and the target columns."""

    modalities: dict[str, pd.DataFrame]
    targets: pd.DataFrame
    rows: np.ndarray  # positions of the kept rows in the original table
    report: ValidationReport


def _media_cell(kind: ColumnKind, max_pixels: int = MAX_IMAGE_PIXELS) -> Callable[[Any, Path | str, Path | None], Any]:
    """The loader of an image or audio cell: a path or URL to read, encoded bytes or a ``{bytes, path}`` struct
    (Hugging Face ``datasets``), or a decoded value (image array or PIL image; ``(samples, rate)``)."""
    name = kind.value
    decode: Callable[[MediaData], Any] = (functools.partial(load_image, max_pixels=max_pixels)
                                          if kind is ColumnKind.IMAGE else load_audio)

    def load(value: Any, base_dir: Path | str, data_root: Path | None) -> Any:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return _decode(decode, bytes(value), name, hint=f"replace the {name} bytes of the cell")
        struct = media_struct(value)
        if struct is not None:
            data, path = struct
            if data is not None:
                return _decode(decode, data, name, hint=f"replace the {name} bytes of the cell")
            if path is None:
                raise CellProblem(f"the {name} struct holds neither bytes nor a path", hint="fix the cell")
            value = path
        if not isinstance(value, str):
            return _decoded_media(kind, value, max_pixels)
        if not value.strip():
            raise CellProblem(f"empty {name} path", hint="leave the cell blank to mark the modality missing")
        return _decode(decode, _existing_file(value, base_dir, data_root, name), name,
                       hint=f"replace or remove the {name} file")

    return load


def _decode(decode: Callable[[MediaData], Any], source: Path | str | bytes, kind: str, hint: str) -> Any:
    """Decode a file, the bytes behind a URL, or bytes held in the cell; a :class:`CellProblem` when they
    cannot be read or decoded."""
    file = None if isinstance(source, bytes) else str(source)
    try:
        return decode(read_bytes(source) if isinstance(source, str) else source)
    except UnreadableFile as exc:
        raise CellProblem(str(exc), hint=hint, file=file) from exc
    except FileNotFoundError as exc:
        if not isinstance(source, str):
            raise CellProblem(f"cannot open the {kind} file ({exc.strerror or exc})",
                              hint="check the file and its permissions", file=file) from exc
        raise CellProblem(f"{kind} file not found", hint="fix the path (relative paths start at the table's "
                          "folder)", file=file) from exc
    except OSError as exc:  # the file went away or cannot be opened (permissions)
        raise CellProblem(f"cannot open the {kind} file ({exc.strerror or exc})",
                          hint="check the file and its permissions", file=file) from exc


def _decoded_media(kind: ColumnKind, value: Any, max_pixels: int) -> Any:
    """An image or audio cell given decoded, in memory, in the form :func:`load_image` / :func:`load_audio`
    return."""
    try:
        if kind is ColumnKind.IMAGE and (isinstance(value, np.ndarray) or media_kind(value) == "image"):
            return image_from_value(value, max_pixels)
        if kind is ColumnKind.AUDIO and isinstance(value, tuple) and len(value) == 2:
            return audio_from_value(*value)
        if kind is ColumnKind.AUDIO and isinstance(value, Mapping) and {"array", "sampling_rate"} <= set(value):
            return audio_from_value(value["array"], value["sampling_rate"])
    except UnreadableFile as exc:
        raise CellProblem(str(exc), hint="fix the cell") from exc
    forms = ("a path, bytes, an image array (H, W[, C]) or a PIL image" if kind is ColumnKind.IMAGE
             else "a path, bytes or a (samples, sample_rate) tuple")
    shape = f" of shape {value.shape}" if isinstance(value, np.ndarray) else f" {repr(value)[:40]}"
    raise CellProblem(f"expected an {kind.value} ({forms}), got {type(value).__name__}{shape}",
                      hint="give the file's path, or the media itself")


def _existing_file(value: str, base_dir: Path | str, data_root: Path | None, kind: str) -> Path | str:
    """The file a path cell names (a URL is returned as it is: it is checked when read); a
    :class:`CellProblem` saying why when there is no such readable local file."""
    try:
        path = resolve_path(value, base_dir, data_root)
        if isinstance(path, str):
            return path
        is_dir, is_file = path.is_dir(), path.is_file()
    except PermissionError as exc:
        raise CellProblem(str(exc), hint="move the file under --data-root", file=value) from exc
    except (OSError, RuntimeError) as exc:  # ENAMETOOLONG, ~user that does not exist, ...
        if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
            raise CellProblem(f"{kind} file name too long for the file system",
                              hint="fix the path (each name at most 255 bytes)", file=value[:300]) from exc
        raise CellProblem(f"cannot use the {kind} path ({exc})", hint="fix the path", file=value[:300]) from exc
    if is_dir:
        raise CellProblem(f"the {kind} path is a folder, not a file", hint="give the path of a file",
                          file=str(path))
    if not is_file:
        raise CellProblem(
            f"{kind} file not found", hint="fix the path (relative paths start at the table's folder)",
            file=str(path),
        )
    return path


def _text_cell(value: Any, base_dir: Path | str, data_root: Path | None) -> Any:
    text = value if isinstance(value, str) else str(value)
    if not text.strip():
        raise CellProblem("empty text", hint="leave the cell blank (null) to mark the text missing")
    return text


def _numeric_cell(value: Any, base_dir: Path | str, data_root: Path | None) -> Any:
    number = to_float(value)
    if number is None:
        raise CellProblem(f"expected a number, got {type(value).__name__} {value!r}", hint="fix the value")
    if math.isinf(number):
        raise CellProblem("infinite value", hint="replace it with a finite number or leave it blank")
    return number


def _categorical_cell(value: Any, base_dir: Path | str, data_root: Path | None) -> Any:
    return str(value)


def _vector_cell(value: Any, base_dir: Path | str, data_root: Path | None) -> Any:
    vector = parse_vector(value)
    if vector is None:
        raise CellProblem(f"expected a list of numbers, got {str(value)[:40]!r}", hint="write it as [1.0, 2.0]")
    if not np.all(np.isfinite(vector)):
        raise CellProblem("the vector holds NaN or infinite values", hint="fix the vector")
    return vector.astype(np.float32)


CELL_LOADERS: dict[ColumnKind, Callable[[Any, Path | str, Path | None], Any]] = {
    ColumnKind.IMAGE: _media_cell(ColumnKind.IMAGE),
    ColumnKind.AUDIO: _media_cell(ColumnKind.AUDIO),
    ColumnKind.TEXT: _text_cell,
    ColumnKind.NUMERIC: _numeric_cell,
    ColumnKind.CATEGORICAL: _categorical_cell,
    ColumnKind.VECTOR: _vector_cell,
}


def _file_samples(kind: ColumnKind, values: list[Any], table: Table, data_root: Path | None,
                  lookup: FileLookup) -> tuple[dict[int, FileSample], set[int]]:
    """The cells of readable local paths and of encoded bytes (a binary cell, a ``{bytes, path}`` struct) as
    :class:`FileSample` (keyed by their bytes, by position), and the positions whose key ``lookup`` knows
    (those are not decoded). Bad paths are left to the regular loader, which reports them; URLs are read
    (and decoded) by it."""
    samples: dict[int, FileSample] = {}
    for position, value in enumerate(values):
        struct = media_struct(value)
        data = bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else struct[0] if struct else None
        if data is not None:
            samples[position] = FileSample.of_bytes(data, kind.value)
            continue
        value = struct[1] if struct else value
        if isinstance(value, str) and value.strip():
            try:
                path = resolve_path(value, table.base_dir, data_root)
                if isinstance(path, Path) and path.is_file():
                    samples[position] = FileSample.of(path, kind.value)
            except (OSError, RuntimeError):  # PermissionError included: reported by the regular loader
                continue
    flags = np.asarray(lookup([s.key for s in samples.values()]), dtype=bool).tolist() if samples else []
    return samples, {p for p, flag in zip(samples, flags) if flag}


def _load_column(
    series: pd.Series, kind: ColumnKind, table: Table, data_root: Path | None, report: ValidationReport,
    lookup: FileLookup | None = None, max_image_pixels: int = MAX_IMAGE_PIXELS,
) -> list[Any]:
    loader = CELL_LOADERS[kind]
    if kind is ColumnKind.IMAGE and max_image_pixels != MAX_IMAGE_PIXELS:
        loader = _media_cell(kind, max_image_pixels)
    missing_value: Any = math.nan if kind is ColumnKind.NUMERIC else None
    values = series.tolist()
    samples: dict[int, FileSample] = {}
    known: set[int] = set()
    if lookup is not None and kind in (ColumnKind.IMAGE, ColumnKind.AUDIO):
        samples, known = _file_samples(kind, values, table, data_root, lookup)

    def one(item: tuple[int, Any]) -> tuple[Any, CellProblem | None]:
        position, value = item
        if is_missing(value):
            return missing_value, None
        if position in known:
            return samples[position], None  # its embedding is cached: no need to decode the file
        try:
            cell = loader(value, table.base_dir, data_root)
        except CellProblem as problem:
            return missing_value, problem
        sample = samples.get(position)
        return (cell if sample is None else FileSample(sample.path, sample.kind, sample.key, cell)), None

    if kind in (ColumnKind.IMAGE, ColumnKind.AUDIO) and len(values) - len(known) > 64:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(one, enumerate(values)))
    else:
        results = [one(item) for item in enumerate(values)]
    source = None if table.source == "<DataFrame>" else table.source
    for row, (_, problem) in enumerate(results):
        if problem is not None:
            report.problems.append(
                Problem(problem.message, row=row, column=str(series.name), file=problem.file or source,
                        hint=problem.hint)
            )
    if kind in FILE_KINDS:
        _report_unreadable_column(series, kind, results, report)
    if kind is ColumnKind.NUMERIC:
        _report_blank_numbers(series, [r[0] for r in results], report)
    if kind is ColumnKind.VECTOR:
        _check_vector_lengths(series, results, report)
    return [r[0] for r in results]


def _report_unreadable_column(series: pd.Series, kind: ColumnKind, results: list[tuple[Any, CellProblem | None]],
                              report: ValidationReport) -> None:
    """One problem for a media column none of whose files could be read (say, MP3s this libsndfile cannot
    decode): under ``skip`` the whole modality would otherwise be missing with only per-cell messages."""
    given = [problem for value, (_, problem) in zip(series.tolist(), results) if not is_missing(value)]
    problems = [problem for problem in given if problem is not None]
    if given and len(problems) == len(given):
        first = problems[0]
        report.problems.append(Problem(
            f"none of the {len(given)} {kind.value} file(s) of this column could be read; the first: {first.message}",
            column=str(series.name), file=first.file,
            hint=f"convert the files to a format polymodal reads, or give the column another kind with "
                 f"--modality {series.name}=text", severity="warning",
        ))


def _report_ignored_datetimes(frame: pd.DataFrame, schema: Schema, report: ValidationReport) -> None:
    for column in schema.ignored:
        if column in frame.columns and pd.api.types.is_datetime64_any_dtype(frame[column]):
            report.problems.append(Problem(
                f"datetime column {column!r} is ignored; give it a kind with "
                f"--modality {column}=numeric|categorical|text to use it", column=column, severity="warning",
            ))


def _report_blank_numbers(series: pd.Series, values: list[Any], report: ValidationReport) -> None:
    blank = [i for i, v in enumerate(series.tolist()) if is_missing(v)]
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (" ..." if len(blank) > 10 else "")
        report.problems.append(Problem(
            f"{len(blank)} missing value(s) in rows {shown}", column=str(series.name),
            hint="they are imputed with the training median", severity="warning",
        ))


def _check_vector_lengths(series: pd.Series, results: list[tuple[Any, Any]], report: ValidationReport) -> None:
    lengths = Counter(len(v) for v, p in results if v is not None)
    if len(lengths) <= 1:
        return
    expected = lengths.most_common(1)[0][0]
    for row, (vector, _) in enumerate(results):
        if vector is not None and len(vector) != expected:
            report.problems.append(Problem(
                f"vector of length {len(vector)}; most rows have {expected}", row=row,
                column=str(series.name), hint="give every row a vector of the same length",
            ))
            results[row] = (None, None)


def _check_target(value: Any, task: TaskKind) -> str | None:
    if is_missing(value):
        return "no target value"
    if task is TaskKind.REGRESSION:
        number = to_float(value)
        if number is None:
            return f"expected a number as target, got {value!r}"
        if not math.isfinite(number):
            return "the target is not finite"
    if task is TaskKind.MULTILABEL and parse_label_list(value) is None and not isinstance(value, str):
        return f"expected a list of labels, got {value!r}"
    return None


def load_table(
    table: Table,
    schema: Schema,
    *,
    on_error: str = "raise",
    data_root: str | Path | None = None,
    require_targets: bool = True,
    file_lookups: Mapping[str, FileLookup] | None = None,
    max_image_pixels: int | Mapping[str, int] | None = None,
) -> LoadedTable:
    """Load and validate every cell of ``table`` under ``schema``.

    ``file_lookups`` (column -> :data:`FileLookup`, e.g. from
    :meth:`~polymodal.data.pipeline.DataPipeline.file_lookups`) loads those columns' files as
    :class:`~polymodal.data.file_sample.FileSample` cells, leaving undecoded the files whose key the
    lookup knows (a frozen encoder's cached embeddings): they were validated when first decoded.

    ``max_image_pixels`` (one limit, or one per image column, e.g. from
    :meth:`~polymodal.data.pipeline.DataPipeline.image_pixel_limits`) refuses image files that declare
    more pixels, before decoding them (default :data:`~polymodal.data.loading.MAX_IMAGE_PIXELS`).

    Raises :class:`DataError` listing every error when ``on_error="raise"``; with ``"skip"`` bad
    cells become missing modalities, rows without a usable target are dropped, and the report counts both.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    frame = table.frame
    if frame.empty:
        raise DataError(f"the table {table.source} is empty: it has no rows", [Problem("no rows")])
    root = Path(data_root) if data_root is not None else None
    lookups = dict(file_lookups or {})
    report = ValidationReport(n_rows=len(frame))
    absent = [c for spec in schema.modalities for c in spec.columns if c not in frame.columns]
    if require_targets:
        absent += [t.column for t in schema.targets if t.column not in frame.columns]
    if absent:
        raise DataError(
            f"the table {table.source} lacks column(s) {', '.join(map(repr, absent))}; "
            f"it has {', '.join(map(str, frame.columns))}",
            [Problem("column missing from the table", column=c) for c in absent],
        )
    limits = _pixel_limits(max_image_pixels)
    _report_ignored_datetimes(frame, schema, report)
    modalities = {}
    for spec in schema.modalities:
        loaded = {c: _load_column(frame[c], spec.column_kinds[c], table, root, report, lookups.get(c), limits(c))
                  for c in spec.columns}
        modalities[spec.name] = pd.DataFrame(loaded, index=frame.index)
    keep = np.ones(len(frame), dtype=bool)
    if require_targets:
        _check_targets(frame, schema, report, keep)
    return _finish(table, schema, modalities, keep, report, on_error)


def _check_targets(frame: pd.DataFrame, schema: Schema, report: ValidationReport, keep: np.ndarray) -> None:
    """Report (and mark in ``keep`` as unusable) each row's bad targets. With several targets a row may leave
    some empty (partial labels: it trains the others); a row with none of them is still a problem."""
    partial = len(schema.targets) > 1
    labelled = np.zeros(len(frame), dtype=bool)
    for target in schema.targets:
        for row, value in enumerate(frame[target.column].tolist()):
            if partial and is_missing(value):
                continue
            labelled[row] = True
            message = _check_target(value, target.task)
            if message:
                report.problems.append(Problem(message, row=row, column=target.column,
                                               hint="fix the target or remove the row"))
                keep[row] = False
    if partial:
        names = ", ".join(repr(t.column) for t in schema.targets)
        for empty in np.flatnonzero(~labelled):
            report.problems.append(Problem(f"no target value in any of the targets {names}", row=int(empty),
                                           hint="give the row at least one label, or remove it"))
            keep[empty] = False


def _pixel_limits(max_image_pixels: int | Mapping[str, int] | None) -> Callable[[str], int]:
    """The image pixel limit of each column."""
    if isinstance(max_image_pixels, Mapping):
        per_column = {str(c): check_pixel_limit(v) for c, v in max_image_pixels.items()}
        return lambda column: per_column.get(column, MAX_IMAGE_PIXELS)
    limit = MAX_IMAGE_PIXELS if max_image_pixels is None else check_pixel_limit(max_image_pixels)
    return lambda column: limit


def _finish(
    table: Table, schema: Schema, modalities: dict[str, pd.DataFrame], keep: np.ndarray,
    report: ValidationReport, on_error: str,
) -> LoadedTable:
    if report.errors and on_error == "raise":
        raise DataError(
            f"{len(report.errors)} problem(s) in {table.source}; fix them, or pass --on-error skip to treat "
            "unreadable cells as missing modalities",
            report.errors,
        )
    for problem in report.errors:
        if problem.column is not None and problem.row is not None and keep[problem.row]:
            report.skipped_cells[problem.column] += 1
    report.dropped_rows = [int(r) for r in np.flatnonzero(~keep)]
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        raise DataError(f"no usable row left in {table.source}", report.errors)
    target_cols = [t.column for t in schema.targets if t.column in table.frame.columns]
    return LoadedTable(
        {name: f.iloc[rows].reset_index(drop=True) for name, f in modalities.items()},
        table.frame[target_cols].iloc[rows].reset_index(drop=True),
        rows,
        report,
    )
