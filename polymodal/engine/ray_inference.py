"""Predictions and embeddings of a large Parquet dataset on a Ray cluster (``--engine ray``).

Ray Data reads the shards (``ray.data.read_parquet``: a ``.parquet`` file, a folder of them, a glob,
or a URL that pyarrow opens), a pool of actors (``map_batches`` with ``concurrency=workers``) each
loads the bundle once and predicts (or embeds) one pandas batch at a time, and the results are
written as Parquet shards to the ``out`` folder. Ray connects to the cluster named by ``RAY_ADDRESS``
(``ray start --head`` on a machine, then ``ray start --address HEAD:6379`` on the others), or, when
none is named and none is running, starts one on this machine. See docs/distributed.md.

Row identity: the order is preserved (``DataContext.execution_options.preserve_order``), so the
output shards ``part-00000.parquet, part-00001.parquet, ...`` read in name order (``pandas.read_parquet``
of the folder) hold the rows of the input shards in sorted path order, row by row; and the columns
named in ``keep`` (an id column, say) are copied from the input beside the outputs. The local
engine's ``row`` column (the position in the table) is not written: a batch does not know its
offset in the dataset; keep an id column instead. ``out/_polymodal.json`` records what was written
(readers of Parquet folders skip files starting with ``_``).

Relative media paths (images, audio) resolve against the table's folder, as with the local engine:
the folder given, or the folder of the file, or of the glob's fixed part (``data/`` for
``data/*/part.parquet``); ``data_root`` (predict) replaces the model's data root. The table, its
media and the bundle must be readable from every machine of the cluster (a shared file system or
object store), and ``out`` must be a folder every machine can write (a shared file system).

Ray is an optional dependency: ``pip install "polymodal[ray]"``.
"""

from __future__ import annotations

import glob
import inspect
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from polymodal.data.schema import ROW_COLUMN
from polymodal.engine.atomic import atomic_directory, atomic_write_json
from polymodal.errors import DataError, PolymodalError

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
    with atomic_directory(out, check=_replaceable) as tmp, _order_preserved(ray):
        data = _blocks_of(ray.data.read_parquet(paths), batch_rows)
        predicted = data.map_batches(
            BundleWorker, fn_constructor_args=(task, bundle, options, base, keep, max(1, int(cpus_per_worker))),
            batch_size=batch_rows, batch_format="pandas", concurrency=workers, num_cpus=reserved)
        predicted.write_parquet(str(tmp))
        shards = _name_shards(tmp)
        rows = sum(_parquet_rows(tmp / s) for s in shards)
        result = RayInferenceResult(out, rows, shards, [*keep, *outputs])
        atomic_write_json(tmp / MARKER, {"task": task, "bundle": bundle, "table": str(table), "rows": rows,
                                         "shards": shards, "columns": result.columns, "workers": workers})
    result.seconds = time.perf_counter() - start
    return result


def _check_on_driver(task: Task, bundle: str, options: dict[str, Any], base: str | None, first: str,
                     keep: list[str], table: str) -> list[str]:
    """The output columns, from the bundle applied to the first rows of the first shard here: a wrong
    bundle, a missing column or a bad ``keep`` fails with its plain message before Ray starts anything."""
    sample = _first_rows(first)
    _check_keep(keep, list(sample.columns), table)
    outputs = list(BundleWorker(task, bundle, options, base)(sample).columns)
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

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from polymodal.data.table import read_table

        rows = batch.reset_index(drop=True)
        table = read_table(rows, base_dir=self.base)
        if self.task == "predict":
            result = self.model.predict(table, **self.options)
            kept = rows[self.keep].iloc[result[ROW_COLUMN].to_numpy()].reset_index(drop=True)
            result = result.drop(columns=[ROW_COLUMN]).reset_index(drop=True)
        else:
            z = np.asarray(self.model.embed(table, **self.options), dtype=np.float32)
            result = pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])
            kept = rows[self.keep].reset_index(drop=True)
        return pd.concat([kept, result], axis=1)


def parquet_paths(table: str) -> tuple[list[str], str | None]:
    """The Parquet files of ``table`` in sorted order, and the folder relative media paths resolve against:
    a ``.parquet`` file (its folder), a folder (every ``.parquet`` file under it; the folder) or a glob
    (the folder before its first wildcard); a URL (``s3://...``) is passed to Ray as it is (no folder)."""
    if "://" in table:
        return [table], None
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


def _hidden(relative: Path) -> bool:
    return any(part.startswith((".", "_")) for part in relative.parts)


def _fixed_parts(pattern: Path) -> Iterator[str]:
    """The parts of a glob before its first wildcard (``.`` when it starts with one)."""
    yield "."
    for part in pattern.parent.parts:
        if glob.has_magic(part):
            return
        yield part


def _first_rows(path: str, n: int = 2) -> pd.DataFrame:
    """A few rows of a shard (to check the bundle and the columns on the driver); a URL is opened by pyarrow."""
    import pyarrow.dataset as pads

    return pads.dataset(path, format="parquet").head(n).to_pandas()


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


def _blocks_of(data: Any, rows: int) -> Any:
    """``data`` in blocks of at most ``rows`` rows, streamed (no shuffle): Ray merges small shards into one
    block, which one actor of the pool would then predict alone. Ray before 2.4x has no streaming
    repartition: there the blocks are Ray's own."""
    if "target_num_rows_per_block" in inspect.signature(data.repartition).parameters:
        return data.repartition(target_num_rows_per_block=rows)
    return data


@contextmanager
def _order_preserved(ray: Any) -> Iterator[None]:
    context = ray.data.DataContext.get_current()
    before = context.execution_options.preserve_order
    context.execution_options.preserve_order = True
    try:
        yield
    finally:
        context.execution_options.preserve_order = before


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # the extra ray[data]: without it ray has no Data library
    except ImportError as error:
        raise PolymodalError(RAY_MISSING) from error
    return ray
