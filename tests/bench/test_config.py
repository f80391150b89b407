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


def documented(kind: str) -> list[str]:
    """The ``kind`` code blocks of docs/bench-grid.md, in page order."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "bench-grid.md").read_text(encoding="utf-8")
    blocks, current, info = [], None, ""
    for line in page.splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, info = [], line[3:].strip()
            else:
                if info == kind:
                    blocks.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


@pytest.mark.filterwarnings("ignore:No positive samples in targets")  # 20 test rows: a digit may be absent
def test_the_documented_grid_is_checked_and_runs(digits_csv: Path, tmp_path: Path, capsys) -> None:
    """The example of docs/bench-grid.md, on a small table where it expects AV-digits (two image views of the
    embedded digits here): every name in it is real, its documented error is what a wrong name gives, and it
    runs (one seed, one epoch, tiny encoders)."""
    import numpy as np
    import pandas as pd

    from polymodal.bench.check import grid_problems
    from polymodal.bench.runner import run_benchmark

    (example,) = documented("yaml")
    frame = pd.read_csv(digits_csv).iloc[:80]
    for column in ("rotated", "noisy"):
        frame[column] = [str(digits_csv.parent / p) for p in frame[column]]
    frame["split"] = np.where(np.arange(len(frame)) % 4 == 0, "test", "train")
    frame["speaker"] = "s"
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "avdigits.csv", index=False)
    path = tmp_path / "grid.yaml"
    path.write_text(example)
    config = BenchConfig.from_file(path)
    assert grid_problems(config) == [] and len(config.specs()) == 9

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(example.replace("fusion: low_rank", "fusion: low_rnk").replace("[image_noise", "[gaussian_noise"))
    assert main(["bench", str(wrong), "--out", str(tmp_path / "never")]) == 2
    documented_error = next(block for block in documented("") if block.startswith("error:")).splitlines()
    err = capsys.readouterr().err.replace(str(wrong), "grid.yaml").splitlines()
    assert len(err) == len(documented_error) == 3
    for line, doc in zip(err, documented_error, strict=True):
        assert line.startswith(doc.removesuffix("...").rstrip()), (line, doc)

    config.seeds = [0]
    config.isolate = False
    config.common.update(epochs=1, baseline=False, batch_size=64,
                         encoder_args={"image": {"base_channels": 4, "output_dim": 8}})
    result = run_benchmark(config, tmp_path / "out")
    assert (result["n_ok"], result["n_failed"]) == (3, 0)
    assert set(pd.read_csv(tmp_path / "out" / "robustness.csv")["corruption"]) == {"image_noise"}
