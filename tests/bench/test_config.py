"""The benchmark grid file: tables relative to it, and clear errors for bad YAML, tags and values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polymodal.bench.config import BenchConfig
from polymodal.cli import main
from polymodal.config import ConfigError

GRID = "datasets:\n  - {name: d, table: t.csv, target: y}\nmethods:\n  - {name: concat}\n"


def test_tables_resolve_relative_to_the_grid_file(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text(GRID)
    assert BenchConfig.from_file(tmp_path / "grid.yaml").datasets[0].table == str(tmp_path.resolve() / "t.csv")


def test_a_python_tag_is_refused_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(GRID.replace("name: concat", "name: !!python/object/apply:os.system [echo]"))
    with pytest.raises(ConfigError, match=re.escape(f"{path} line 4, column 12: tag "
                                                    "'!!python/object/apply:os.system' is not allowed")):
        BenchConfig.from_file(path)


def test_bench_prints_the_yaml_error_not_a_traceback(tmp_path: Path, capsys) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(GRID.replace("target: y}", "target: y"))
    assert main(["bench", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path} line 3, column 8: could not parse YAML: expected ',' or '}}', but got ':'\n"
    assert not (tmp_path / "out").exists()


def test_wrong_values_name_where_they_are(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(GRID.replace("target: y", "targets: y"))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: 2 invalid value(s) in BenchConfig:\n"
                                                    "  datasets[0].target: Field required\n"
                                                    "  datasets[0].targets: unknown key")):
        BenchConfig.from_file(path)
