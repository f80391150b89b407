"""Predictions and embeddings of a large Parquet dataset on a Ray cluster (``--engine ray``).

The table is a ``.parquet`` file, a folder of them, a glob, or a URL that pyarrow opens. The driver
lists the shards (sorted by path) and their row counts (Parquet metadata only) and cuts them into
chunks of ``batch_rows`` rows; Ray Data maps the chunks with a pool of actors (``map_batches`` with
``concurrency=workers``), each of which loads the bundle once, reads its chunk's rows with pyarrow
(the row groups that hold them) and predicts (or embeds) them as one pandas batch; the results are
written as Parquet shards to the ``out`` folder. Ray connects to the cluster named by ``RAY_ADDRESS``
(``ray start --head`` on a machine, then ``ray start --address HEAD:6379`` on the others), or, when
none is named and none is running, starts one on this machine. See docs/distributed.md.

Row identity: every output row carries ``row``, its position in the input (shards in sorted path
order, rows in file order), as the local engine's ``row`` column does; the columns named in ``keep``
(an id column, say) are copied from the input beside the outputs. The output shards are in no
particular order (sort by ``row``). ``ray.data.read_parquet`` is not used to read the rows because
Ray Data (2.60, measured) does not keep their order, even with ``preserve_order``: a row could not be
told from another. ``out/_polymodal.json`` records what was written (readers of Parquet folders
skip files starting with ``_``).

Relative media paths (images, audio) resolve against the table's folder, as with the local engine:
the folder given, or the folder of the file, or of the glob's fixed part (``data/`` for
``data/*/part.parquet``); ``data_root`` (predict) replaces the model's data root. The table, its
media and the bundle must be readable from every machine of the cluster (a shared file system or
object store), and ``out`` must be a folder every machine can write (a shared file system).

Ray is an optional dependency: ``pip install "polymodal[ray]"``.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from polymodal.data.schema import ROW_COLUMN
from polymodal.errors import DataError, PolymodalError
from polymodal.storage.atomic import atomic_directory, atomic_write_json

Task = Literal["predict", "embed"]
MARKER = "_polymodal.json"
RAY_MISSING = 'the ray engine needs Ray Data, which is not installed: pip install "polymodal[ray]"'


@dataclass
class RayInferenceResult:
    """What a Ray run wrote: ``rows`` rows in the Parquet ``shards`` of ``out``, in ``seconds`` (wall clock,
    bundle check, reading, inference and writing included)."""

    out: Path
    rows: int
    shards: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    seconds: float = 0.0


def predict_on_ray(bundle: str | Path, table: str, out: str | Path, *, workers: int = 2,
                   keep: Sequence[str] = (), on_error: str | None = None, data_root: str | Path | None = None,
                   batch_rows: int = 1024, cpus_per_worker: float = 1.0) -> RayInferenceResult:
    """``Predictor.predict`` of every row of the Parquet ``table`` on Ray; columns ``keep`` + the predictions.

    Example
    -------
    >>> predict_on_ray("model/", "data/shards/", "predictions/", keep=["id"])  # doctest: +SKIP
    """
    options = {"on_error": on_error, "data_root": None if data_root is None else str(data_root)}
    return _run("predict", bundle, table, out, workers, keep, options, batch_rows, cpus_per_worker)


def embed_on_ray(bundle: str | Path, table: str, out: str | Path, *, workers: int = 2,
                 keep: Sequence[str] = (), on_error: str | None = None, modalities: Sequence[str] | None = None,
                 batch_rows: int = 1024, cpus_per_worker: float = 1.0) -> RayInferenceResult:
    """``PretrainedModel.embed`` of every row of the Parquet ``table`` on Ray; columns ``keep`` + ``z0, z1, ...``."""
    options = {"on_error": on_error, "modalities": None if modalities is None else list(modalities)}
    return _run("embed", bundle, table, out, workers, keep, options, batch_rows, cpus_per_worker)


def _run(task: Task, bundle: str | Path, table: str, out: str | Path, workers: int, keep: Sequence[str],
         options: dict[str, Any], batch_rows: int, cpus_per_worker: float) -> RayInferenceResult:
    start = time.perf_counter()
    _check_counts(workers, batch_rows, cpus_per_worker)
    ray = _import_ray()
    paths, base = parquet_paths(table)
    keep = list(keep)
    bundle = str(Path(bundle).expanduser().resolve())  # the actors may run in another working folder
    if options.get("data_root") is not None:
        options = {**options, "data_root": str(Path(options["data_root"]).expanduser().resolve())}
    outputs = _check_on_driver(task, bundle, options, base, paths[0], keep, table)
    if not ray.is_initialized():
        ray.init()  # the cluster of RAY_ADDRESS, a running local one, or a new local one
    out = Path(out).expanduser()
    reserved = actor_cpus(float(ray.cluster_resources().get("CPU", 1.0)), workers, cpus_per_worker)
    chunks = row_chunks(paths, batch_rows, None if base is not None else table)
    with atomic_directory(out, check=_replaceable) as tmp:
        predicted = ray.data.from_items(chunks).map_batches(
            BundleWorker, fn_constructor_args=(task, bundle, options, base, keep, max(1, int(cpus_per_worker))),
            batch_size=1, batch_format="pandas", concurrency=workers, num_cpus=reserved)
        predicted.write_parquet(str(tmp))
        shards = _name_shards(tmp)
        rows = sum(_parquet_rows(tmp / s) for s in shards)
        result = RayInferenceResult(out, rows, shards, [ROW_COLUMN, *keep, *outputs])
        atomic_write_json(tmp / MARKER, {"task": task, "bundle": bundle, "table": str(table), "rows": rows,
                                         "shards": shards, "columns": result.columns, "workers": workers})
    result.seconds = time.perf_counter() - start
    return result


def _check_on_driver(task: Task, bundle: str, options: dict[str, Any], base: str | None, first: str,
                     keep: list[str], table: str) -> list[str]:
    """The output columns, from the bundle applied to the first rows of the first shard here: a wrong
    bundle, a missing column or a bad ``keep`` fails with its plain message before Ray starts anything."""
    sample = read_rows(first, 0, 2, table if base is None else None)
    _check_keep(keep, list(sample.columns), table)
    outputs = list(BundleWorker(task, bundle, options, base).apply(sample).columns)[1:]  # after row
    clash = [c for c in keep if c in outputs]
    if clash:
        raise ValueError(f"--keep {', '.join(clash)}: the {task} output has a column of that name already; keep "
                         f"other columns (the outputs are {', '.join(outputs)})")
    return outputs


def actor_cpus(cluster_cpus: float, workers: int, cpus_per_worker: float) -> float:
    """The CPUs each actor reserves in Ray: ``cpus_per_worker``, less when the pool would take the whole
    cluster, so that one CPU stays free for the tasks that list, read and write the shards (Ray Data
    waits forever otherwise: the actors hold every CPU and the read never starts). The actor's torch
    threads stay ``cpus_per_worker``.

    Example
    -------
    >>> actor_cpus(2.0, 2, 1.0), actor_cpus(16.0, 2, 4.0)
    (0.5, 4.0)
    """
    room = max(cluster_cpus - 1.0, 0.0) / workers
    return max(min(cpus_per_worker, room), 0.01)


class BundleWorker:
    """One actor of the pool: loads the bundle once, then maps a pandas batch of the table to its outputs.

    ``task`` is ``"predict"`` (a bundle of ``polymodal fit``) or ``"embed"`` (of ``polymodal pretrain``);
    ``options`` are the keyword arguments of ``predict`` / ``embed``; relative media paths resolve
    against ``base`` (None: the working folder). The batch's ``keep`` columns come first in the output.
    ``threads`` sets torch's threads of the actor's process (None leaves them).
    """

    def __init__(self, task: Task, bundle: str, options: dict[str, Any], base: str | None,
                 keep: Sequence[str] = (), threads: int | None = None) -> None:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        self.task, self.options, self.base, self.keep = task, dict(options), base, list(keep)
        if task == "predict":
            from polymodal.predictor import Predictor

            self.model: Any = Predictor.load(bundle)
        else:
            from polymodal.pretrained import PretrainedModel

            self.model = PretrainedModel.load(bundle)

    def __call__(self, chunks: pd.DataFrame) -> pd.DataFrame:
        """Each chunk ``(path, start, stop, offset, url)`` of ``chunks``: its rows read and mapped, with ``row``
        (``offset + position in the file``) first."""
        parts = []
        for chunk in chunks.to_dict("records"):
            start = int(chunk["start"])
            result = self.apply(read_rows(str(chunk["path"]), start, int(chunk["stop"]), str(chunk["url"]) or None))
            result.insert(0, ROW_COLUMN, int(chunk["offset"]) + start + result.pop(ROW_COLUMN).to_numpy())
            parts.append(result)
        return pd.concat(parts, ignore_index=True)

    def apply(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The outputs of a batch of table rows: ``row`` (the position in ``rows``), ``keep``, then the outputs."""
        from polymodal.data.table import read_table

        rows = rows.reset_index(drop=True)
        table = read_table(rows, base_dir=self.base)
        if self.task == "predict":
            result = self.model.predict(table, **self.options)
            positions = result.pop(ROW_COLUMN).to_numpy()
        else:
            z = np.asarray(self.model.embed(table, **self.options), dtype=np.float32)
            result = pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])
            positions = np.arange(len(rows))
        kept = rows[self.keep].iloc[positions].reset_index(drop=True)
        return pd.concat([pd.DataFrame({ROW_COLUMN: positions}), kept, result.reset_index(drop=True)], axis=1)


def row_chunks(paths: list[str], rows: int, url: str | None = None) -> list[dict[str, Any]]:
    """Chunks of at most ``rows`` rows of the Parquet files ``paths`` (in that order): ``path``, ``start``,
    ``stop`` (rows of the file), ``offset`` (rows of the files before it) and ``url`` (the table's URL for
    files of a remote file system, else ``""``). Only the files' metadata is read."""
    import pyarrow.parquet as pq

    chunks, offset = [], 0
    for path in paths:
        filesystem = _filesystem(url)
        n = int(pq.ParquetFile(filesystem.open_input_file(path) if filesystem else path).metadata.num_rows)
        chunks += [{"path": path, "start": a, "stop": min(a + rows, n), "offset": offset, "url": url or ""}
                   for a in range(0, n, rows)]
        offset += n
    return chunks


def read_rows(path: str, start: int, stop: int, url: str | None = None) -> pd.DataFrame:
    """Rows ``start:stop`` of a Parquet file, reading only the row groups that hold them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    filesystem = _filesystem(url)
    parquet = pq.ParquetFile(filesystem.open_input_file(path) if filesystem else path)
    groups, first, at = [], None, 0
    for i in range(parquet.num_row_groups):
        size = parquet.metadata.row_group(i).num_rows
        if at < stop and at + size > start:
            groups.append(i)
            first = at if first is None else first
        at += size
    if not groups:
        return parquet.schema_arrow.empty_table().to_pandas()
    table: pa.Table = parquet.read_row_groups(groups)
    return table.slice(start - (first or 0), stop - start).to_pandas()


def _filesystem(url: str | None) -> Any:
    if not url:
        return None
    from pyarrow import fs

    return fs.FileSystem.from_uri(url)[0]


def parquet_paths(table: str) -> tuple[list[str], str | None]:
    """The Parquet files of ``table`` in sorted order, and the folder relative media paths resolve against:
    a ``.parquet`` file (its folder), a folder (every ``.parquet`` file under it; the folder) or a glob
    (the folder before its first wildcard); a URL (``s3://...``) is passed to Ray as it is (no folder)."""
    if "://" in table:
        import pyarrow.dataset as pads

        filesystem, root = _filesystem(table), _url_path(table)
        files = sorted(pads.dataset(root, filesystem=filesystem, format="parquet").files)
        if not files:
            raise DataError(f"no .parquet file in {table}")
        return files, None
    path = Path(table).expanduser()
    if path.is_dir():
        files = sorted(str(p.resolve()) for p in path.rglob("*.parquet") if not _hidden(p.relative_to(path)))
        base = path
    elif glob.has_magic(table):
        files = sorted(str(Path(p).resolve()) for p in glob.glob(str(path), recursive=True) if p.endswith(".parquet"))
        base = Path(*[part for part in _fixed_parts(path)])
    elif path.suffix.lower() == ".parquet" and path.is_file():
        files, base = [str(path.resolve())], path.parent
    elif path.exists():
        raise DataError(f"--engine ray reads Parquet shards; {table} is not a .parquet file: give a .parquet file, "
                        "a folder of them or a glob such as 'data/*.parquet' (or use the local engine)")
    else:
        raise DataError(f"table {table} not found")
    if not files:
        raise DataError(f"no .parquet file in {table}")
    return files, str(base.resolve())


def _url_path(url: str) -> str:
    from pyarrow import fs

    return str(fs.FileSystem.from_uri(url)[1])


def _hidden(relative: Path) -> bool:
    return any(part.startswith((".", "_")) for part in relative.parts)


def _fixed_parts(pattern: Path) -> Iterator[str]:
    """The parts of a glob before its first wildcard (``.`` when it starts with one)."""
    yield "."
    for part in pattern.parent.parts:
        if glob.has_magic(part):
            return
        yield part


def _check_keep(keep: list[str], columns: list[str], table: str) -> None:
    missing = [c for c in keep if c not in columns]
    if missing:
        raise DataError(f"--keep {', '.join(missing)}: no such column in {table}; its columns are "
                        f"{', '.join(columns)}")
    if len(set(keep)) != len(keep):
        raise ValueError(f"--keep names a column twice: {', '.join(keep)}")


def _check_counts(workers: int, batch_rows: int, cpus_per_worker: float) -> None:
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if batch_rows < 1:
        raise ValueError(f"the batch size must be at least 1 row, got {batch_rows}")
    if not cpus_per_worker > 0:
        raise ValueError(f"cpus per worker must be positive, got {cpus_per_worker}")


def _replaceable(path: Path) -> None:
    """``out`` may be replaced when absent, empty, or written by this engine before (it has the marker)."""
    if not path.exists():
        return
    if not path.is_dir():
        raise ValueError(f"--out {path} is a file; --engine ray writes a folder of Parquet shards: give a folder")
    if any(path.iterdir()) and not (path / MARKER).is_file():
        raise ValueError(f"--out {path} is a folder that holds other files (it was not written by --engine ray); "
                         "give a new or empty folder")


def _name_shards(folder: Path) -> list[str]:
    """Rename Ray's shards (named by write id and task index, in order) to ``part-00000.parquet`` ..."""
    written = sorted(p for p in folder.iterdir() if p.suffix == ".parquet")
    names = []
    for i, shard in enumerate(written):
        name = f"part-{i:05d}.parquet"
        shard.rename(folder / name)
        names.append(name)
    return names


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # the extra ray[data]: without it ray has no Data library
    except ImportError as error:
        raise PolymodalError(RAY_MISSING) from error
    return ray
