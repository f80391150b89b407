from pathlib import Path

import pandas as pd
import pytest

from polymodal.data.table import read_table
from polymodal.errors import DataError


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_reads_each_format_and_resolves_against_its_folder(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    path = tmp_path / f"t{suffix}"
    {".csv": lambda: frame.to_csv(path, index=False), ".parquet": lambda: frame.to_parquet(path),
     ".jsonl": lambda: frame.to_json(path, orient="records", lines=True)}[suffix]()
    table = read_table(path)
    assert table.frame.to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}
    assert table.base_dir == tmp_path.resolve()


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "t.xlsx").write_text("")
    with pytest.raises(DataError, match=r"unknown table format '.xlsx'; use one of"):
        read_table(tmp_path / "t.xlsx")
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "none.csv")


@pytest.mark.parametrize(("suffix", "text"), [(".csv", "num,x,num,x,y\n1,2,3,4,5\n"),
                                              (".tsv", "num\tx\tnum\tx\ty\n1\t2\t3\t4\t5\n"),
                                              (".jsonl", '{"y": 5}\n{"num": 1, "x": 2, "num": 3, "x": 4, "y": 5}\n')])
def test_repeated_column_names_are_refused_not_renamed(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"t{suffix}"
    path.write_text(text)
    with pytest.raises(DataError, match=r"has repeated column names: 'num', 'x'\n  - file .*: column name 'num' "
                                        r"appears more than once \(give every column its own name\)"):
        read_table(path)


def test_repeated_parquet_column_names_are_refused(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table([[1], [2]], names=["num", "num"]), path)
    with pytest.raises(DataError, match=r"has repeated column names: 'num'"):
        read_table(path)


def test_a_header_that_is_not_text_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xff\xfe\x00a,b\n1,2\n")
    with pytest.raises(DataError, match=r"cannot read table .*t.csv as csv"):
        read_table(path)
