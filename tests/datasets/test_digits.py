from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.datasets import load_digits

from polymodal.datasets import make_digits_two_view, make_noisy_two_view
from polymodal.datasets.digits import is_built


def _pixels(csv: Path, paths: pd.Series) -> np.ndarray:
    return np.stack([np.asarray(Image.open(csv.parent / p)) for p in paths])


def test_table_has_one_row_per_digit_with_its_label(digits_csv: Path) -> None:
    table = pd.read_csv(digits_csv)
    assert list(table.columns) == ["rotated", "noisy", "digit"]
    np.testing.assert_array_equal(table["digit"], load_digits().target)
    for column in ("rotated", "noisy"):
        assert not table[column].str.startswith("/").any()  # relative to the table's folder
        assert all((digits_csv.parent / p).is_file() for p in table[column])


def test_pngs_hold_the_two_view_protocol_in_8_bits(digits_csv: Path) -> None:
    table = pd.read_csv(digits_csv).iloc[::50]
    digits = load_digits()
    view1, view2 = make_noisy_two_view(digits.images / 16.0, digits.target, seed=0)
    rows = table.index.to_numpy()
    with Image.open(digits_csv.parent / table["rotated"].iloc[0]) as img:
        assert (img.mode, img.size) == ("L", (8, 8))
    # 8-bit rounding loses at most half a grey level
    assert np.abs(_pixels(digits_csv, table["rotated"]) / 255.0 - view1[rows]).max() <= 0.5 / 255 + 1e-6
    assert np.abs(_pixels(digits_csv, table["noisy"]) / 255.0 - view2[rows]).max() <= 0.5 / 255 + 1e-6


def test_each_view_predicts_the_digit_far_above_chance(digits_csv: Path) -> None:
    table = pd.read_csv(digits_csv)
    train, test = table.iloc[:900], table.iloc[900:]
    for column in ("rotated", "noisy"):
        x_train, x_test = (_pixels(digits_csv, t[column]).reshape(len(t), -1) / 255.0 for t in (train, test))
        centroids = np.stack([x_train[train["digit"].to_numpy() == k].mean(axis=0) for k in range(10)])
        nearest = ((x_test[:, None, :] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)
        accuracy = (nearest == test["digit"].to_numpy()).mean()
        assert accuracy > 0.4, (column, accuracy)  # chance is 0.1


def test_same_seed_reuses_the_folder(digits_csv: Path) -> None:
    stamp = digits_csv.stat().st_mtime_ns
    assert make_digits_two_view(digits_csv.parent, seed=0) == digits_csv
    assert digits_csv.stat().st_mtime_ns == stamp


def test_another_seed_rebuilds_and_a_lost_file_invalidates_the_folder(tmp_path: Path) -> None:
    csv = make_digits_two_view(tmp_path, seed=0)
    image = tmp_path / pd.read_csv(csv)["rotated"].iloc[0]
    before = image.read_bytes()
    make_digits_two_view(tmp_path, seed=1)
    assert json.loads((tmp_path / "digits_two_view.manifest.json").read_text())["seed"] == 1
    assert image.read_bytes() != before
    assert not list(tmp_path.rglob("*.tmp"))  # every file was renamed into place
    params = {"dataset": "digits_two_view", "version": 1, "seed": 1}
    assert is_built(csv, params, path_columns=["rotated", "noisy"])
    image.unlink()
    assert not is_built(csv, params, path_columns=["rotated", "noisy"])
