"""Streaming tables larger than memory: chunks, sampling, the hash split, bad cells by global row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polymodal.data.streaming import (
    StreamingDataset,
    count_rows,
    hash_split,
    iter_table_chunks,
    load_chunk,
    sample_rows,
)
from polymodal.errors import DataError


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    colour = rng.choice(["red", "blue", "green"], size=n)
    return pd.DataFrame({
        "x": x,
        "colour": colour,
        "emb": [list(v) for v in rng.normal(size=(n, 3)).round(3)],
        "y": np.where(x + (colour == "red") * 1.5 > 0.5, "pos", "neg"),
    })


@pytest.fixture
def parquet(tmp_path: Path) -> Path:
    path = tmp_path / "t.parquet"
    _table(1000).to_parquet(path, row_group_size=128)
    return path


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_chunks_cover_every_row_once_with_global_positions(tmp_path: Path, suffix: str) -> None:
    frame = _table(1000)[["x", "colour"]]
    path = tmp_path / f"t{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    chunks = list(iter_table_chunks(path, 300))
    assert [len(f) for _, f in chunks] == [300, 300, 300, 100]
    assert [s for s, _ in chunks] == [0, 300, 600, 900]
    joined = pd.concat([f for _, f in chunks])
    np.testing.assert_array_equal(joined.index.to_numpy(), np.arange(1000))
    np.testing.assert_allclose(joined["x"].to_numpy(), frame["x"].to_numpy())
    assert count_rows(path) == 1000


def test_chunk_rows_must_be_positive(parquet: Path) -> None:
    with pytest.raises(ValueError, match="chunk_rows must be a positive integer"):
        next(iter_table_chunks(parquet, 0))


def test_a_format_that_cannot_stream_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"x": 1}\n')
    with pytest.raises(DataError, match=r"cannot stream .*use a \.csv, \.tsv or \.parquet"):
        next(iter_table_chunks(path, 10))


def test_hash_split_is_deterministic_disjoint_and_near_the_fraction() -> None:
    rows = np.arange(20000)
    val = hash_split(rows, 0.2, seed=3)
    np.testing.assert_array_equal(val, hash_split(rows, 0.2, seed=3))
    # chunking does not change a row's side
    np.testing.assert_array_equal(val[5000:7000], hash_split(rows[5000:7000], 0.2, seed=3))
    assert abs(val.mean() - 0.2) < 0.015
    assert (val != hash_split(rows, 0.2, seed=4)).any()
    with pytest.raises(ValueError, match="val_fraction must be between 0 and 1"):
        hash_split(rows, 1.0, seed=0)


def test_sample_is_seeded_uniform_and_independent_of_chunk_size(parquet: Path) -> None:
    a = sample_rows(parquet, 200, seed=1, chunk_rows=64)
    b = sample_rows(parquet, 200, seed=1, chunk_rows=500)
    assert len(a) == 200 and a.index.is_monotonic_increasing
    np.testing.assert_array_equal(a.index.to_numpy(), b.index.to_numpy())
    assert a.index.min() < 100 and a.index.max() > 900  # spread over the whole file, not its head
    assert len(sample_rows(parquet, 5000, seed=1)) == 1000


def test_a_sample_of_list_cells_does_not_hold_the_chunks_it_came_from(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(2000, 4)).astype(np.float32)
    table = pa.table({"emb": pa.FixedSizeListArray.from_arrays(emb.ravel(), 4).cast(pa.list_(pa.float32())),
                      "y": rng.integers(0, 2, 2000)})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=100)
    sample = sample_rows(tmp_path / "t.parquet", 50, seed=0, chunk_rows=100)
    cells = sample["emb"].to_list()
    # pyarrow's cells view their chunk's buffer: a kept view would keep the whole chunk alive
    assert all(isinstance(c, np.ndarray) and c.base is None for c in cells)
    np.testing.assert_array_equal(np.stack(cells), emb[sample.index.to_numpy()])
    assert sample["emb"].index.equals(sample.index)


def _pipeline(parquet: Path):
    from polymodal.config import DataConfig
    from polymodal.data.module import StreamingDataModule

    data = DataConfig(targets=["y"], fit_sample_rows=300, chunk_rows=100)
    return StreamingDataModule(parquet, data).setup().fitted


def test_streaming_dataset_yields_each_row_of_its_split_once(parquet: Path) -> None:
    pipeline = _pipeline(parquet)
    seen = {}
    for split in ("train", "val"):
        ds = StreamingDataset(parquet, pipeline, split, val_fraction=0.25, batch_size=32, chunk_rows=100,
                              shuffle=True)
        sizes = [len(b[2]["y"]) for b in ds]
        assert all(s == 32 for s in sizes[:-1])  # partial batches only at the very end
        seen[split] = np.concatenate([d.rows for d in ds.encoded_chunks()])
        assert sum(sizes) == len(seen[split])
    assert not set(seen["train"]) & set(seen["val"])
    assert sorted([*seen["train"], *seen["val"]]) == list(range(1000))


def test_bad_cells_in_a_late_chunk_are_reported_by_global_row(tmp_path: Path) -> None:
    frame = _table(1000)
    frame["x"] = frame["x"].astype(object)
    frame.loc[937, "x"] = "oops"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    pipeline = _pipeline_csv(path)
    ds = StreamingDataset(path, pipeline, "all", val_fraction=0.2, chunk_rows=100)
    with pytest.raises(DataError, match=r"rows 900-999(.|\n)*row 937, column 'x': expected a number"):
        list(ds)
    skip = StreamingDataset(path, pipeline, "all", val_fraction=0.2, chunk_rows=100, on_error="skip")
    assert sum(len(b[2]["y"]) for b in skip) == 1000
    assert skip.report.skipped_cells == {"x": 1}


def _pipeline_csv(path: Path):
    from polymodal.config import DataConfig
    from polymodal.data.module import StreamingDataModule

    data = DataConfig.model_validate({"targets": ["y"], "fit_sample_rows": 100, "chunk_rows": 100,
                                      "modalities": {"x": "numeric"}, "on_error": "skip"})
    return StreamingDataModule(path, data).setup().fitted


def test_load_chunk_drops_a_chunk_without_targets_under_skip(parquet: Path) -> None:
    pipeline = _pipeline(parquet)
    _, frame = next(iter_table_chunks(parquet, 50))
    frame = frame.assign(y=None)
    frame.index = frame.index + 500
    loaded = load_chunk(frame, pipeline.schema, parquet.parent, str(parquet), "skip")
    assert len(loaded.rows) == 0 and loaded.report.dropped_rows == list(range(500, 550))



def test_a_streamed_csv_with_repeated_column_names_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,x,y\n1,2,a\n")
    with pytest.raises(DataError, match=r"has repeated column names: 'x'"):
        list(iter_table_chunks(path, 10))


def _read_as_rank(rank: int, port: int, shards: str, pipeline: object, workers: int, out: str) -> None:
    import json

    import torch.distributed as dist
    from torch.utils.data import DataLoader

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        ds = StreamingDataset(shards, pipeline, "train", val_fraction=0.25, batch_size=16, chunk_rows=40,  # type: ignore[arg-type]
                              shuffle=True, split_column="split")
        ds.set_epoch(1)
        batches = list(DataLoader(ds, batch_size=None, num_workers=workers))
        rows = sorted(int(r) for _, masks, _ in batches for r in masks["_rows"].tolist())
        Path(out).write_text(json.dumps({"rows": rows, "batches": len(batches)}))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("workers", [0, 2])
def test_two_processes_see_every_row_of_a_sharded_table_once_per_epoch(tmp_path: Path, workers: int) -> None:
    import json
    import socket

    import torch.multiprocessing as mp

    frame = _table(332)  # 193 training rows: one reader holds a row more, which joins its last batch
    frame["split"] = np.where(np.arange(332) % 5 == 0, "test", "train")
    shards = tmp_path / "shards"
    shards.mkdir()
    for i, part in enumerate(np.array_split(np.arange(332), 4)):
        frame.iloc[part].to_parquet(shards / f"part-{i}.parquet")
    pipeline = _pipeline(shards / "part-0.parquet")  # fitted on the first shard, it serves them all
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outs = [str(tmp_path / f"rank{r}.json") for r in range(2)]

    def run(rank: int) -> None:
        _read_as_rank(rank, port, str(shards), _RowsPipeline(pipeline), workers, outs[rank])

    mp.start_processes(run, nprocs=2, start_method="fork")
    seen = [json.loads(Path(o).read_text()) for o in outs]
    expected = StreamingDataset(shards, pipeline, "train", val_fraction=0.25, chunk_rows=40, split_column="split")
    every = sorted(int(r) for d in expected.encoded_chunks() for r in d.rows)
    assert len(every) == expected.split_rows() and len(every) % 2 == 1
    assert sorted(seen[0]["rows"] + seen[1]["rows"]) == every  # each training row once, over both processes
    assert seen[0]["batches"] == seen[1]["batches"]  # DDP stays in step: as many batches in each process


class _RowsPipeline:
    """A fitted pipeline whose encoded batches also carry each row's position (as a fake modality's mask)."""

    def __init__(self, pipeline: object) -> None:
        self.pipeline = pipeline

    def __getattr__(self, name: str) -> object:
        return getattr(self.pipeline, name)

    def transform(self, loaded: object, with_targets: bool = True) -> object:
        import torch

        data = self.pipeline.transform(loaded, with_targets)  # type: ignore[attr-defined]
        data.masks["_rows"] = torch.as_tensor(data.rows)
        return data
