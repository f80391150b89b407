"""Where a table lives and how to read it: a local file, a folder or glob of Parquet shards, or a URL.

:func:`open_source` turns a location into a :class:`TableSource`: its format, its files in reading order,
and its base (where relative media paths resolve: the table file's folder, the shard folder, or the
matching URL of a remote table). The source reads whole (:meth:`TableSource.read_frame`) or in chunks of
rows with their global positions (:meth:`TableSource.iter_chunks`), always in the same order: shard files
sorted by path, each in its own row order.

Locations:

- a local table file: CSV, TSV, Parquet, JSONL or JSON (by its extension);
- a local folder of Parquet shards (every ``*.parquet`` / ``*.pq`` file under it, at any depth, except
  names starting with ``.`` or ``_``), or a glob of them (``data/part-*.parquet``), read with
  ``pyarrow.dataset`` (shards may lack columns, which read as missing; number types are promoted);
- any of those behind a URL that ``fsspec`` opens (``s3://``, ``gs://``, ``https://``, ``memory://``; the
  matching package, such as ``s3fs`` or ``gcsfs``, must be installed; ``https://`` names one file).

Example
-------
>>> import pandas as pd, tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> for i in range(2):
...     pd.DataFrame({"x": [2 * i, 2 * i + 1]}).to_parquet(folder / f"part-{i}.parquet")
>>> source = open_source(folder)
>>> source.format, len(source.files), source.read_frame()["x"].tolist()
('parquet', 2, [0, 1, 2, 3])
>>> [(start, len(chunk)) for start, chunk in source.iter_chunks(3)]
[(0, 2), (2, 2)]
"""

from __future__ import annotations

import csv
import glob
import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from polymodal.errors import DataError, Problem

READERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
SHARD_SUFFIXES = (".parquet", ".pq")
GLOB_CHARACTERS = frozenset("*?[")
REMOTE_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
                   "abfss": "adlfs", "adl": "adlfs", "hf": "huggingface_hub", "http": "aiohttp", "https": "aiohttp",
                   "sftp": "paramiko", "ssh": "paramiko", "webhdfs": "requests", "dropbox": "dropboxdrivefs"}
"""The package fsspec needs for each protocol (what to install when it is missing)."""
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")
_READ_ERRORS = (ValueError, OSError, pd.errors.ParserError, pa.ArrowException)


def is_url(value: str) -> bool:
    """True for ``scheme://...`` (two letters or more, so that ``C:\\`` is a local path)."""
    return bool(_URL.match(value.strip()))


def join_location(base: str, relative: str) -> str:
    """``relative`` (a POSIX path) under the URL ``base``, with ``.`` and ``..`` resolved."""
    scheme, rest = base.split("://", 1)
    host, _, path = rest.partition("/")
    joined = posixpath.normpath(posixpath.join("/" + path, relative.replace("\\", "/")))
    return f"{scheme}://{host}{joined}"


@dataclass(frozen=True)
class TableSource:
    """A table's location, resolved: what :func:`open_source` returns.

    ``files`` are local paths, or paths on ``filesystem`` (an fsspec filesystem) for a remote table;
    ``base`` is a local folder (``Path``) or a URL (``str``).
    """

    location: str
    format: str
    files: tuple[str, ...]
    base: Path | str
    filesystem: Any = None
    is_dataset: bool = False

    @property
    def is_remote(self) -> bool:
        return self.filesystem is not None

    def column_names(self) -> list[str]:
        """The column names as the files write them (a repeated name is refused)."""
        if self.is_dataset:
            names = [str(n) for n in self._dataset().schema.names]
            refuse_repeated_names(names, self.location)
            return names
        if not self.is_remote:
            return check_header(Path(self.files[0]), self.format, self.location)
        with self._open(self.files[0]) as fh:
            return check_header(fh, self.format, self.location)

    def read_frame(self) -> pd.DataFrame:
        """The whole table (index ``0..N-1``; column names as written)."""
        self.column_names()
        try:
            if self.is_dataset:
                dataset = self._dataset()
                tables = [f.to_table(schema=dataset.schema) for f in dataset.get_fragments()]
                frame = pa.concat_tables(tables).to_pandas() if tables else dataset.schema.empty_table().to_pandas()
            else:
                frame = read_file(Path(self.files[0]) if not self.is_remote else self._open(self.files[0]),
                                  self.format)
        except DataError:
            raise
        except _READ_ERRORS as exc:
            raise DataError(f"cannot read table {self.location} as {self.format}: {exc}") from exc
        return frame.reset_index(drop=True)

    def iter_chunks(self, chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
        """``(start, frame)`` for consecutive chunks of at most ``chunk_rows`` rows (a chunk never spans two
        shards), ``start`` being the global position of the chunk's first row and ``frame.index`` the
        positions ``start..start+len-1``. Only CSV, TSV and Parquet tables stream."""
        if int(chunk_rows) < 1:
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows}")
        self.column_names()
        start = 0
        for frame in self._raw_chunks(int(chunk_rows)):
            frame.index = pd.RangeIndex(start, start + len(frame))
            yield start, frame
            start += len(frame)

    def count_rows(self, chunk_rows: int = 65536) -> int:
        """Rows in the table (Parquet: from the footers; CSV: one streamed pass of ``chunk_rows`` chunks)."""
        if self.format == "parquet":
            try:
                if self.is_dataset:
                    return int(self._dataset().count_rows())
                with self._open(self.files[0]) as fh:
                    return int(pq.ParquetFile(fh).metadata.num_rows)
            except DataError:
                raise
            except _READ_ERRORS as exc:
                raise DataError(f"cannot read table {self.location} as parquet: {exc}") from exc
        return sum(len(frame) for _, frame in self.iter_chunks(chunk_rows))

    # ------------------------------------------------------------------ internals
    def _open(self, path: str) -> Any:
        return self.filesystem.open(path, "rb") if self.is_remote else open(path, "rb")

    def _dataset(self) -> Any:
        import pyarrow.dataset as ds

        try:
            fragments = ds.dataset(list(self.files), format="parquet", filesystem=self.filesystem)
            schemas = [f.physical_schema for f in fragments.get_fragments()]
            refuse_repeated_names(_first_repeated(schemas), self.location)
            schema = pa.unify_schemas(schemas, promote_options="permissive") if schemas else fragments.schema
            return ds.dataset(list(self.files), schema=schema, format="parquet", filesystem=self.filesystem)
        except DataError:
            raise
        except (pa.ArrowException, ValueError, OSError) as exc:
            raise DataError(f"cannot read the Parquet shards of {self.location}: {exc}") from exc

    def _raw_chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        if self.format not in ("csv", "tsv", "parquet"):
            raise DataError(f"cannot stream {self.location}: format {self.format!r} is not streamable; "
                            "use a .csv, .tsv or .parquet file (or turn streaming off)")
        try:
            if self.is_dataset:
                import pyarrow.dataset as ds

                dataset = self._dataset()
                options = ds.ParquetFragmentScanOptions(pre_buffer=False)
                for fragment in dataset.get_fragments():
                    batches = fragment.to_batches(schema=dataset.schema, batch_size=chunk_rows,
                                                  fragment_scan_options=options, use_threads=False)
                    yield from _rebatched(batches, chunk_rows, dataset.schema)
            elif self.format == "parquet":
                with self._open(self.files[0]) as fh:
                    # pre-buffering (pyarrow's default) keeps every row group read so far: memory would grow
                    for batch in pq.ParquetFile(fh, pre_buffer=False).iter_batches(batch_size=chunk_rows):
                        yield batch.to_pandas()
            else:
                with self._open(self.files[0]) as fh, pd.read_csv(
                        fh, sep="\t" if self.format == "tsv" else ",", chunksize=chunk_rows) as reader:
                    yield from reader
        except DataError:
            raise
        except _READ_ERRORS as exc:
            raise DataError(f"cannot read table {self.location} as {self.format}: {exc}") from exc


def _rebatched(batches: Iterator[pa.RecordBatch], chunk_rows: int, schema: pa.Schema) -> Iterator[pd.DataFrame]:
    """Record batches (one per row group at most) regrouped into frames of ``chunk_rows`` rows (the last
    one shorter): small row groups would otherwise make small chunks."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= chunk_rows:
            table = pa.Table.from_batches(pending, schema=schema)
            yield table.slice(0, chunk_rows).to_pandas()
            rest = table.slice(chunk_rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending, schema=schema).to_pandas()


def _first_repeated(schemas: list[pa.Schema]) -> list[str]:
    """The names of the first shard schema that repeats a column name (to refuse it), else none."""
    for schema in schemas:
        names = [str(n) for n in schema.names]
        if len(set(names)) < len(names):
            return names
    return []


def open_source(location: str | Path) -> TableSource:
    """Resolve ``location`` (see the module docstring) to a :class:`TableSource`; a :class:`DataError` saying
    what is wrong when there is no such table or it cannot be opened."""
    text = str(location)
    if is_url(text) and not text.lower().startswith("file://"):
        return _remote_source(text)
    if text.lower().startswith("file://"):
        text = text[len("file://"):]
    if GLOB_CHARACTERS & set(text) and not Path(text).exists():
        files = sorted(f for f in glob.glob(text, recursive=True) if Path(f).is_file())
        if files or text.lower().endswith(SHARD_SUFFIXES):  # else a file name with brackets: "does not exist"
            return _shards(text, files, Path(_glob_root(text)).resolve(), None)
    path = Path(text)
    if not path.exists():
        raise DataError(f"table {path} does not exist", [Problem("file not found", file=str(path))])
    if path.is_dir():
        shards = sorted(str(p) for p in path.rglob("*") if p.is_file() and _is_shard(p.relative_to(path).as_posix()))
        if not shards:
            raise DataError(f"{path} is a folder without Parquet shards (*.parquet); pass a table file (CSV, "
                            "Parquet or JSONL) or a folder of Parquet files")
        return _shards(str(path), shards, path.resolve(), None)
    return TableSource(str(path), _format(path.name, str(path)), (str(path),), path.parent.resolve())


def _remote_source(url: str) -> TableSource:
    fs, path = _filesystem(url)
    protocol = url.split("://", 1)[0].lower()
    try:
        if GLOB_CHARACTERS & set(path) and protocol not in ("http", "https"):
            files = sorted(str(f) for f in fs.glob(path) if fs.isfile(f))
            return _shards(url, files, fs.unstrip_protocol(_glob_root(path)), fs)
        if protocol not in ("http", "https") and fs.isdir(path):
            files = sorted(str(f) for f in fs.find(path) if _is_shard(posixpath.relpath(str(f), path)))
            if not files:
                raise DataError(f"{url} is a folder without Parquet shards (*.parquet); pass a table file (CSV, "
                                "Parquet or JSONL) or a folder of Parquet files")
            return _shards(url, files, url.rstrip("/"), fs)
        exists = fs.exists(path)
    except DataError:
        raise
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot open table {url}: {exc}") from exc
    if not exists:
        raise DataError(f"table {url} does not exist", [Problem("file not found", file=url)])
    base = url.rsplit("/", 1)[0] if protocol in ("http", "https") else fs.unstrip_protocol(posixpath.dirname(path))
    return TableSource(url, _format(posixpath.basename(path), url), (path,), base, fs)


def _filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem and path of ``url``; an error naming the package to install when it is missing."""
    protocol = url.split("://", 1)[0].lower()
    try:
        from fsspec.core import url_to_fs
    except ImportError as exc:
        raise DataError(f"reading {url} needs fsspec: pip install 'polymodal[remote]'"
                        + (f" {REMOTE_PACKAGES[protocol]}" if protocol in REMOTE_PACKAGES else "")) from exc
    try:
        return url_to_fs(url)
    except ImportError as exc:
        package = REMOTE_PACKAGES.get(protocol)
        needs = f"the package {package} (pip install {package})" if package else "another package"
        raise DataError(f"reading {protocol}:// tables needs {needs}; fsspec says: {exc}") from exc
    except ValueError as exc:
        raise DataError(f"cannot open {url}: unknown protocol {protocol!r} ({exc})") from exc


def _is_shard(relative: str) -> bool:
    parts = relative.split("/")
    return relative.lower().endswith(SHARD_SUFFIXES) and not any(p.startswith((".", "_")) for p in parts)


def _glob_root(pattern: str) -> str:
    """The folder part of a glob before its first wildcard (where relative media paths resolve)."""
    head = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    return head if head.endswith(("/", "\\")) else (posixpath.dirname(head.replace("\\", "/")) or ".")


def _shards(location: str, files: list[str], base: Path | str, fs: Any) -> TableSource:
    if not files:
        raise DataError(f"no file matches {location}", [Problem("no file matches the pattern", file=location)])
    others = [f for f in files if not f.lower().endswith(SHARD_SUFFIXES)]
    if others:
        raise DataError(f"{location} matches files that are not Parquet: {', '.join(others[:3])}; a table of "
                        "several files is a set of Parquet shards (*.parquet)")
    return TableSource(location, "parquet", tuple(files), base, fs, is_dataset=True)


def _format(name: str, location: str) -> str:
    suffix = Path(name).suffix
    fmt = READERS.get(suffix.lower())
    if fmt is None:
        raise DataError(f"cannot read {location}: unknown table format {suffix!r}; "
                        f"use one of {', '.join(sorted(READERS))}")
    return fmt


def refuse_repeated_names(names: list[str], source: str) -> None:
    """A :class:`DataError` listing the column names that appear more than once."""
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"table {source} has repeated column names: {', '.join(map(repr, repeated))}",
                        [Problem(f"column name {n!r} appears more than once", column=n, file=source,
                                 hint="give every column its own name") for n in repeated])


def check_header(file: Path | IO[bytes], fmt: str, source: str | None = None) -> list[str]:
    """The column names of a table file (``fmt`` as in :data:`READERS`); refuse one whose header repeats a
    name. ``file`` is a path or an open binary file (a remote table's), rewound after reading its header."""
    source = str(file) if source is None else source
    try:
        names = _header_names(file, fmt)
    except (ValueError, OSError, csv.Error, pa.ArrowException) as exc:  # UnicodeDecodeError is a ValueError
        raise DataError(f"cannot read table {source} as {fmt}: {exc}") from exc
    finally:
        if not isinstance(file, Path):
            file.seek(0)
    refuse_repeated_names(names, source)
    return names


def _header_names(file: Path | IO[bytes], fmt: str) -> list[str]:
    """The column names as the file writes them (pandas renames repeated CSV names ``num``, ``num.1``;
    JSON readers keep the last of repeated keys): every name of the header row, of the Parquet schema, or of
    the keys of each JSON record."""
    if fmt == "parquet":
        return [str(n) for n in pq.read_schema(file).names]
    import io

    raw = file.open("rb") if isinstance(file, Path) else _Unclosed(file)
    with raw, io.TextIOWrapper(raw, encoding="utf-8-sig" if fmt in ("csv", "tsv") else "utf-8", newline="") as fh:
        if fmt in ("csv", "tsv"):
            return next(csv.reader(fh, delimiter="\t" if fmt == "tsv" else ","), [])
        names: list[str] = []
        records = (line for line in fh if line.strip()) if fmt == "jsonl" else [fh.read()]
        for text in records:
            try:
                json.loads(text, object_pairs_hook=lambda pairs: _repeated_keys(pairs, names))
            except json.JSONDecodeError:
                return []  # pandas reports the syntax error
            if names:
                return names
        return names


class _Unclosed:
    """A binary file that a text wrapper may read but not close (the caller reads it again)."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def close(self) -> None:
        pass

    @property
    def closed(self) -> bool:
        return False

    def __enter__(self) -> _Unclosed:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _repeated_keys(pairs: list[tuple[str, object]], found: list[str]) -> dict[str, object]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) < len(keys) and not found:
        found.extend(keys)
    return dict(pairs)


def read_file(file: Path | IO[bytes], fmt: str) -> pd.DataFrame:
    """One table file (a path or an open binary file) as a DataFrame."""
    try:
        if fmt == "csv":
            return pd.read_csv(file)
        if fmt == "tsv":
            return pd.read_csv(file, sep="\t")
        if fmt == "parquet":
            return pd.read_parquet(file)
        if fmt == "jsonl":
            return pd.read_json(file, lines=True)
        return pd.read_json(file)
    finally:
        if not isinstance(file, Path):
            file.close()


def read_bytes(location: str) -> bytes:
    """The bytes of a media file behind a URL (fsspec); ``FileNotFoundError`` when there is none, ``OSError``
    (naming the package to install) when the URL cannot be opened."""
    try:
        fs, path = _filesystem(location)
    except DataError as exc:
        raise OSError(str(exc)) from exc
    data = fs.cat_file(path)
    return bytes(data)
