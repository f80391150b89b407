import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from polymodal.data.sources import join_location, open_source
from polymodal.data.streaming import count_rows, iter_table_chunks, sample_rows
from polymodal.data.table import read_table
from polymodal.errors import DataError


@pytest.fixture
def shards(tmp_path: Path) -> Path:
    """4 Parquet shards of 10 rows (x = global position), written out of order, plus files that are not shards."""
    folder = tmp_path / "shards"
    (folder / "sub").mkdir(parents=True)
    for i in (2, 0, 3, 1):
        part = folder / "sub" / f"part-{i}.parquet" if i == 3 else folder / f"part-{i}.parquet"
        pq.write_table(pa.table({"x": list(range(10 * i, 10 * i + 10)), "y": ["a", "b"] * 5}), part,
                       row_group_size=4)
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-0.parquet.crc").write_text("")
    (folder / "README.txt").write_text("not a shard")
    return folder


def test_a_folder_of_shards_reads_whole_in_path_order(shards: Path) -> None:
    source = open_source(shards)
    assert (source.format, source.is_dataset, source.base) == ("parquet", True, shards.resolve())
    assert [Path(f).relative_to(shards).as_posix() for f in source.files] == [
        "part-0.parquet", "part-1.parquet", "part-2.parquet", "sub/part-3.parquet"]
    table = read_table(shards)
    assert table.frame["x"].tolist() == list(range(40)) and table.base_dir == shards.resolve()
    assert count_rows(shards) == 40


def test_a_folder_of_shards_streams_with_global_positions(shards: Path) -> None:
    chunks = list(iter_table_chunks(shards, 3))  # rows groups of 4 regrouped by 3; a chunk never spans two shards
    assert [start for start, _ in chunks] == [0, 3, 6, 9, 10, 13, 16, 19, 20, 23, 26, 29, 30, 33, 36, 39]
    for start, frame in chunks:
        assert frame.index.tolist() == list(range(start, start + len(frame))) == frame["x"].tolist()
    assert sum(len(frame) for _, frame in chunks) == 40
    sample = sample_rows(shards, 7, seed=3, chunk_rows=4)
    assert sample.index.tolist() == sample["x"].tolist() and len(sample) == 7
    assert sample.equals(sample_rows(shards, 7, seed=3, chunk_rows=25))  # independent of the chunk size


def test_a_glob_of_shards(shards: Path) -> None:
    table = read_table(str(shards / "part-[12].parquet"))
    assert table.frame["x"].tolist() == list(range(10, 30)) and table.base_dir == shards.resolve()
    assert [s for s, _ in iter_table_chunks(str(shards / "**" / "*.parquet"), 10)] == [0, 10, 20, 30]
    with pytest.raises(DataError, match=r"^no file matches .*nothing-\*\.parquet\n  - file .*: no file matches the "
                                        r"pattern$"):
        read_table(str(shards / "nothing-*.parquet"))
    with pytest.raises(DataError, match=r"matches files that are not Parquet: .*README\.txt, .*_SUCCESS; a table "
                                        r"of several files is a set of Parquet shards \(\*\.parquet\)"):
        read_table(str(shards / "*"))


def test_shards_with_different_columns_and_number_types_unify(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"x": [0.5], "z": ["new"]}), tmp_path / "b.parquet")
    frame = read_table(tmp_path).frame
    assert frame["x"].tolist() == [1.0, 2.0, 0.5] and frame["z"].tolist()[2] == "new"
    assert frame["z"].isna().tolist() == [True, True, False]


def test_a_folder_without_shards_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("x\n1\n")
    with pytest.raises(DataError, match=r"is a folder without Parquet shards \(\*\.parquet\); pass a table file "
                                        r"\(CSV, Parquet or JSONL\) or a folder of Parquet files"):
        read_table(tmp_path)


@pytest.fixture
def memory_dir() -> Iterator[str]:
    fsspec = pytest.importorskip("fsspec", reason="remote tables need fsspec (the remote extra)")
    folder = f"/polymodal-test-{uuid.uuid4().hex}"
    yield folder
    fs = fsspec.filesystem("memory")
    if fs.exists(folder):
        fs.rm(folder, recursive=True)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_memory_url_table_reads_and_streams(memory_dir: str, suffix: str) -> None:
    import fsspec

    frame = pd.DataFrame({"x": list(range(25)), "img": [f"media/{i}.png" for i in range(25)]})
    url = f"memory://{memory_dir}/data/t{suffix}"
    with fsspec.open(url, "wb") as fh:
        frame.to_csv(fh, index=False) if suffix == ".csv" else frame.to_parquet(fh)
    table = read_table(url)
    assert table.frame.equals(frame) and table.source == url
    assert table.base_dir == f"memory://{memory_dir}/data"
    assert [(s, len(f)) for s, f in iter_table_chunks(url, 10)] == [(0, 10), (10, 10), (20, 5)]
    assert count_rows(url) == 25


def test_a_memory_url_folder_of_shards(memory_dir: str) -> None:
    import fsspec

    for i in range(4):
        with fsspec.open(f"memory://{memory_dir}/ds/part-{i}.parquet", "wb") as fh:
            pd.DataFrame({"x": [2 * i, 2 * i + 1]}).to_parquet(fh)
    url = f"memory://{memory_dir}/ds"
    table = read_table(url)
    assert table.frame["x"].tolist() == list(range(8)) and table.base_dir == url
    assert [s for s, _ in iter_table_chunks(url + "/part-*.parquet", 5)] == [0, 2, 4, 6]
    with pytest.raises(DataError, match=r"^table memory://.*/none\.csv does not exist"):
        read_table(f"memory://{memory_dir}/none.csv")


def test_a_missing_filesystem_package_is_named() -> None:
    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed: nothing is missing")
    with pytest.raises(DataError, match=r"^reading gs:// tables needs the package gcsfs \(pip install gcsfs\); "
                                        r"fsspec says: Please install gcsfs"):
        read_table("gs://bucket/table.parquet")
    with pytest.raises(DataError, match=r"^cannot open nosuch://x/t\.csv: unknown protocol 'nosuch'"):
        read_table("nosuch://x/t.csv")


def test_join_location_resolves_relative_paths_against_a_url() -> None:
    assert join_location("s3://bucket/data", "img/a.png") == "s3://bucket/data/img/a.png"
    assert join_location("s3://bucket/data/x", "../img/a.png") == "s3://bucket/data/img/a.png"
    assert join_location("https://host.org/d", "./a b.wav") == "https://host.org/d/a b.wav"
