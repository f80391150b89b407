from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image, UnidentifiedImageError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import cross_val_score

from polymodal.datasets import make_synthetic_table
from polymodal.datasets.synthetic import CLASS_WORDS, COLOURS

ALL_COLUMNS = ["image", "audio", "text", "num_a", "num_b", "colour", "embedding", "label"]


def _cv_accuracy(features: np.ndarray, labels: pd.Series) -> float:
    return float(cross_val_score(LogisticRegression(max_iter=1000), features, labels, cv=3).mean())


def _dominant_frequency(path: Path) -> float:
    samples, rate = sf.read(path)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


def _class_words(text: str) -> set[int]:
    return {k for k, words in enumerate(CLASS_WORDS) if set(text.split()) & set(words)}


@pytest.fixture(scope="module")
def table(synthetic_csv: Path) -> pd.DataFrame:
    return pd.read_csv(synthetic_csv)


def test_default_table_has_every_kind_and_balanced_classes(synthetic_csv: Path, table: pd.DataFrame) -> None:
    assert list(table.columns) == ALL_COLUMNS
    assert table["label"].value_counts().to_dict() == {0: 40, 1: 40, 2: 40}
    for column in ("image", "audio"):
        assert all((synthetic_csv.parent / p).is_file() for p in table[column])


def test_image_square_position_gives_the_class(synthetic_csv: Path, table: pd.DataFrame) -> None:
    images = np.stack([np.asarray(Image.open(synthetic_csv.parent / p)) for p in table["image"]])
    assert images.shape[1:] == (32, 32, 3)
    coarse = images.mean(axis=3).reshape(len(images), 8, 4, 8, 4).mean(axis=(2, 4)).reshape(len(images), -1)
    assert _cv_accuracy(coarse, table["label"]) > 0.9  # chance is 1/3


def test_audio_tone_frequency_gives_the_class(synthetic_csv: Path, table: pd.DataFrame) -> None:
    for path, label in zip(table["audio"], table["label"]):
        info = sf.info(synthetic_csv.parent / path)
        assert info.samplerate == 8000 and 0.3 <= info.duration <= 0.6
        assert abs(_dominant_frequency(synthetic_csv.parent / path) - (300 + 300 * label)) < 10


def test_text_numbers_colour_and_embedding_carry_the_class(table: pd.DataFrame) -> None:
    assert [_class_words(t) for t in table["text"]] == [{k} for k in table["label"]]
    assert _cv_accuracy(table[["num_a", "num_b"]].to_numpy(), table["label"]) > 0.6
    assert (table["colour"] == [COLOURS[k] for k in table["label"]]).mean() > 0.6
    embedding = np.stack([json.loads(v) for v in table["embedding"]])
    assert embedding.shape == (120, 8)
    assert _cv_accuracy(embedding, table["label"]) > 0.7


def test_binary_has_two_classes(tmp_path: Path) -> None:
    table = pd.read_csv(make_synthetic_table(tmp_path, n_rows=20, kinds=("text",), task="binary", n_classes=5))
    assert list(table.columns) == ["text", "label"]
    assert sorted(table["label"].unique()) == [0, 1]
    assert not (tmp_path / "images").exists()


def test_multilabel_target_is_a_json_list_the_text_agrees_with(tmp_path: Path) -> None:
    csv = make_synthetic_table(tmp_path, n_rows=40, kinds=("text", "audio"), task="multilabel", n_classes=4)
    table = pd.read_csv(csv)
    labels = [set(json.loads(v)) for v in table["label"]]
    assert all(labels) and set().union(*labels) == {0, 1, 2, 3}
    assert any(len(s) > 1 for s in labels)
    assert [_class_words(t) for t in table["text"]] == labels


def test_regression_target_is_a_float_the_numbers_predict(tmp_path: Path) -> None:
    table = pd.read_csv(make_synthetic_table(tmp_path, kinds=("numeric", "vector"), task="regression"))
    assert table["label"].dtype == np.float64 and table["label"].between(0, 1).all()
    assert table["label"].nunique() == len(table)
    x, y = table[["num_a", "num_b"]], table["label"]
    assert LinearRegression().fit(x, y).score(x, y) > 0.5


def test_same_seed_gives_the_same_table(tmp_path: Path) -> None:
    a = pd.read_csv(make_synthetic_table(tmp_path / "a", n_rows=15, seed=4, kinds=("numeric", "text")))
    b = pd.read_csv(make_synthetic_table(tmp_path / "b", n_rows=15, seed=4, kinds=("text", "numeric")))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"kinds": ("image", "smell")}, ValueError, r"unknown kind\(s\) 'smell'; valid kinds: image, audio"),
        ({"kinds": ()}, ValueError, r"kinds is empty"),
        ({"kinds": "image"}, TypeError, r"kinds must be a sequence"),
        ({"task": "ranking"}, ValueError, r"unknown task 'ranking'; valid tasks: binary, multiclass"),
        ({"n_classes": 11}, ValueError, r"n_classes must be between 2 and 10, got 11"),
        ({"n_rows": 2}, ValueError, r"n_rows=2 is too few for 3 classes"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make_synthetic_table(tmp_path, **kwargs)


def _wav_shortfall(path: Path) -> int:
    """Bytes the RIFF data chunk promises beyond the end of the file."""
    data = path.read_bytes()
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = struct.unpack("<4sI", data[offset : offset + 8])
        if chunk == b"data":
            return offset + 8 + size - len(data)
        offset += 8 + size + (size & 1)
    raise AssertionError(f"{path} has no data chunk")


def test_messy_table_has_exactly_the_documented_defects(messy_table: tuple[Path, list[dict]]) -> None:
    csv, defects = messy_table
    table, base = pd.read_csv(csv), csv.parent
    assert len(table) == 30
    where = {(d["row"], d["column"]): d["kind"] for d in defects}
    assert sorted(where.values()) == sorted(
        ["missing_file", "corrupt_image", "truncated_audio", "nan", "inf", "empty_text", "wrong_type"]
    )
    for row in range(30):
        image, audio = base / table.at[row, "image"], base / table.at[row, "audio"]
        kind = where.get((row, "image"))
        if kind == "missing_file":
            assert not image.exists()
        elif kind == "corrupt_image":
            with pytest.raises(UnidentifiedImageError):
                Image.open(image)
        else:
            assert np.asarray(Image.open(image)).shape == (32, 32, 3)
        assert (_wav_shortfall(audio) > 0) == (where.get((row, "audio")) == "truncated_audio")
        number = table.at[row, "num_a"]
        state = "nan" if math.isnan(number) else "inf" if math.isinf(number) else "finite"
        assert state == {"nan": "nan", "inf": "inf"}.get(where.get((row, "num_a")), "finite")
        assert (table.at[row, "text"].strip() == "") == (where.get((row, "text")) == "empty_text")
        is_number = pd.notna(pd.to_numeric(table.at[row, "num_b"], errors="coerce"))
        assert is_number != (where.get((row, "num_b")) == "wrong_type")
