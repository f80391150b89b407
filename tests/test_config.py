"""Experiment configs from files: clear errors with file, line and column; data roots stored absolute."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polymodal.config import ConfigError, DataConfig, FitConfig, PretrainConfig, with_options


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_yaml_syntax_error_names_the_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  epochs: 3\n   lr: 0.1\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path} line 3, column 6: could not parse YAML: "
                                                    "mapping values are not allowed here")):
        FitConfig.from_file(path)


@pytest.mark.parametrize(("text", "tag", "column"), [
    ("data: !!python/object:os.system {}\n", "!!python/object:os.system", 7),
    ("data: !!python/object/apply:os.system ['echo hi']\n", "!!python/object/apply:os.system", 7),
    ("train:\n  epochs: !!python/name:builtins.print\n", "!!python/name:builtins.print", 11),
    ("model: !custom {}\n", "!custom", 8),
])
def test_a_tag_is_refused_with_its_place(tmp_path: Path, text: str, tag: str, column: int) -> None:
    path = write(tmp_path, text)
    line = text.count("\n", 0, text.index("!")) + 1
    with pytest.raises(ConfigError, match=re.escape(f"{path} line {line}, column {column}: tag '{tag}' is not "
                                                    "allowed; configs hold plain values only")):
        PretrainConfig.from_file(path)


def test_wrong_values_are_one_line_each(tmp_path: Path) -> None:
    path = write(tmp_path, "data:\n  targetz: [y]\ntrain:\n  epochs: 0\n")
    with pytest.raises(ConfigError) as info:
        FitConfig.from_file(path)
    assert str(info.value) == (f"{path}: 2 invalid value(s) in FitConfig:\n"
                               "  data.targetz: unknown key\n"
                               "  train.epochs: Input should be greater than or equal to 1")


@pytest.mark.parametrize(("text", "message"), [
    ("- a\n- b\n", "must hold a mapping (KEY: VALUE lines) at the top level, not a list"),
    ("", None),
])
def test_the_top_level_is_a_mapping(tmp_path: Path, text: str, message: str | None) -> None:
    path = write(tmp_path, text)
    if message is None:
        assert FitConfig.from_file(path) == FitConfig()
        return
    with pytest.raises(ConfigError, match=re.escape(f"{path} {message}")):
        FitConfig.from_file(path)


def test_a_binary_file_is_not_a_config(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x80\x04\x95binary")
    with pytest.raises(ConfigError, match=re.escape(f"{path} is not UTF-8 text (invalid start byte at byte 0)")):
        FitConfig.from_file(path)


def test_a_relative_data_root_is_stored_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert DataConfig(data_root="data").data_root == str(tmp_path.resolve() / "data")
    assert with_options(FitConfig(), {"data_root": "../up"}).data.data_root == str(tmp_path.resolve().parent / "up")
    assert DataConfig().data_root is None


def test_a_relative_data_root_in_a_file_is_relative_to_the_file(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf", "data:\n  data_root: images\n")
    monkeypatch.chdir(tmp_path)
    assert FitConfig.from_file("conf/config.yaml").data.data_root == str(tmp_path.resolve() / "conf" / "images")
