"""What the command line prints and refuses: user strings are never markup, a log keeps each value whole on one
line, config errors have a line and column, --data-root is stored absolute, and predict --out protects files."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import polymodal
from polymodal.cli import main

FAST = ["--epochs", "1", "--batch-size", "64", "--encoder-arg", "image.base_channels=4",
        "--encoder-arg", "image.output_dim=8"]
FOLDER = "a_long_folder_name_for_the_images_of_this_table"


def image_table(root: Path, name: str = "t.csv", missing: int | None = None) -> Path:
    """16 rows: an 8x8 image under a long folder name, a numeric column named like markup, a binary label."""
    (root / FOLDER).mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(16):
        if i != missing:
            Image.new("L", (8, 8), color=15 * i).save(root / FOLDER / f"img_{i:03d}.png")
        rows.append({"image": f"{FOLDER}/img_{i:03d}.png", "score[/]": float(i), "[red]x": i % 3, "label": i % 2})
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_inspect_prints_markup_names_as_they_are_and_each_problem_on_one_line(tmp_path: Path, capsys) -> None:
    table = image_table(tmp_path / "d[", "x].csv", missing=3)  # the table is d[/x].csv
    assert main(["inspect", str(table), "--target", "label"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{table}: 16 rows, 4 columns\n")
    assert "│ score[/] │ numeric" in out and "│ [red]x   │ numeric" in out
    assert "modality tabular (tabular): score[/], [red]x\n" in out
    missing = tmp_path / "d[" / FOLDER / "img_003.png"
    lines = [line for line in out.splitlines() if "img_003.png" in line]  # what grep finds in a log
    assert lines == [f"error\t3\timage\t{missing}\timage file not found\t"
                     "fix the path (relative paths start at the table's folder)"]


def test_an_error_about_a_markup_path_is_printed_not_raised(tmp_path: Path, capsys) -> None:
    table = tmp_path / "d[" / "x].csv"
    assert main(["inspect", str(table)]) == 2
    assert capsys.readouterr().err == f"error: table {table} does not exist\n  - file {table}: file not found\n"


def test_fit_to_a_markup_folder_and_predict_with_a_relative_data_root_from_elsewhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    table = image_table(tmp_path / "root")
    monkeypatch.chdir(tmp_path)
    code = main(["fit", "root/t.csv", "--target", "label", "--data-root", "root", *FAST, "--out", "m[/]"])
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.endswith("model saved to m[/]\n")
    bundle = tmp_path / "m[/]"
    assert json.loads((bundle / "config.json").read_text())["data"]["data_root"] == str(tmp_path.resolve() / "root")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["predict", str(bundle), str(table), "--out", "p.csv"]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out == "16 prediction(s) written to p.csv\n"
    assert len(pd.read_csv("p.csv")) == 16
    assert main(["evaluate", str(bundle), str(table), "--json"]) == 0
    assert "accuracy" in json.loads(capsys.readouterr().out)["label"]
    # a data root of their own: the table's files are outside this one
    other = tmp_path / "elsewhere"
    for command in (["predict", str(bundle), str(table), "--out", "q.csv"], ["evaluate", str(bundle), str(table)]):
        assert main([*command, "--data-root", "."]) == 2
        err = capsys.readouterr().err.replace("\n", "")
        assert "row 0, column 'image'" in err and f"outside the data root {other.resolve()}" in err
    assert not Path("q.csv").exists()
    assert main(["predict", str(bundle), str(table), "--out", "q.csv", "--data-root", str(tmp_path)]) == 0


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("predict-out")
    table = image_table(root)
    assert main(["fit", str(table), "--target", "label", *FAST, "--out", str(root / "model")]) == 0
    return root / "model", table


def test_predict_out_must_not_be_the_table_a_folder_or_in_the_bundle(bundle: tuple[Path, Path], capsys) -> None:
    model, table = bundle
    before, files = table.read_bytes(), sorted(os.listdir(model))
    refused = {
        str(table): f"--out {table} is the input table; write to another file, so the table is kept",
        str(table.parent / "." / table.name): "is the input table",
        str(table.parent): f"--out {table.parent} is a folder; give the file to write, e.g. --out "
                           f"{table.parent / 'predictions.csv'}",
        str(model): f"--out {model} is a folder",
        str(model / "p.csv"): f"--out {model / 'p.csv'} is inside the model bundle {model}; write to a file "
                              "outside it",
    }
    for out, message in refused.items():
        assert main(["predict", str(model), str(table), "--out", out]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --out") and message in err, err
    assert table.read_bytes() == before and sorted(os.listdir(model)) == files


def test_fit_config_yaml_errors_are_one_message(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("data: !!python/object/apply:os.system ['touch pwned']\n")
    assert main(["fit", "t.csv", "--config", str(config)]) == 2
    assert capsys.readouterr().err == (f"error: {config} line 1, column 7: tag '!!python/object/apply:os.system' "
                                       "is not allowed; configs hold plain values only\n")
    config.write_text('train:\n  epochs: 0\n  "[red]x": 1\n')
    assert main(["pretrain", "t.csv", "--config", str(config)]) == 2
    assert capsys.readouterr().err == (f"error: {config}: 2 invalid value(s) in PretrainConfig:\n"
                                       "  train.epochs: Input should be greater than or equal to 1\n"
                                       "  train.[red]x: unknown key\n")


def test_a_bad_flag_value_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    table = image_table(tmp_path)
    assert main(["fit", str(table), "--target", "label", "--epochs", "0"]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"error: 1 invalid value\(s\) in \w+:\n  train\.epochs: Input should be greater than or "
                        r"equal to 1\n", err), err
    assert polymodal  # the package imports cleanly beside the CLI
