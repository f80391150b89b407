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
