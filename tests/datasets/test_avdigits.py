from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from polymodal.datasets import avdigits_splits, build_avdigits
from polymodal.errors import DataError

SPEAKERS = ("alice", "bob", "carol")


def _fake_mnist(path: Path, per_digit: tuple[int, int] = (8, 4)) -> Path:
    """Random 28x28 images, ``per_digit`` of each digit in train and test."""
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in zip(("train", "test"), per_digit):
        labels = rng.permutation(np.repeat(np.arange(10), n)).astype(np.uint8)
        arrays[f"x_{part}"] = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
        arrays[f"y_{part}"] = labels
    np.savez(path, **arrays)
    return path


def _fake_fsdd(folder: Path, speakers: tuple[str, ...] = SPEAKERS, n_index: int = 2) -> Path:
    """Empty files named like FSDD recordings (the builder reads names, never the audio)."""
    folder.mkdir(parents=True)
    for digit in range(10):
        for speaker in speakers:
            for index in range(n_index):
                (folder / f"{digit}_{speaker}_{index}.wav").touch()
    return folder


@pytest.fixture
def fake(tmp_path: Path) -> tuple[Path, Path]:
    return _fake_mnist(tmp_path / "mnist.npz"), _fake_fsdd(tmp_path / "fsdd" / "recordings")


def _check_rows(csv: Path, mnist_file: Path) -> pd.DataFrame:
    """Every path exists, each image is the MNIST image its name says and has the clip's digit."""
    table = pd.read_csv(csv)
    assert list(table.columns) == ["image", "audio", "digit", "speaker", "split"]
    with np.load(mnist_file) as npz:
        mnist = {name: npz[name] for name in npz.files}  # an NpzFile decompresses on every access
    for row in table.itertuples():
        audio = Path(row.audio)
        assert audio.is_absolute() and audio.is_file()
        digit, speaker, _ = audio.stem.split("_")
        assert (int(digit), speaker) == (row.digit, row.speaker)
        index = int(re.fullmatch(r"images/(train|test)/mnist(\d{5})\.png", row.image)[2])
        assert row.image.startswith(f"images/{row.split}/")
        pixels = np.asarray(Image.open(csv.parent / row.image))
        np.testing.assert_array_equal(pixels, mnist[f"x_{row.split}"][index])
        assert mnist[f"y_{row.split}"][index] == row.digit
    for _, rows in table.groupby("split"):
        assert rows["image"].is_unique  # no image reused within a split
    return table


def test_pairs_each_clip_with_images_of_its_digit_split_by_speaker(fake: tuple[Path, Path], tmp_path: Path) -> None:
    mnist, fsdd = fake
    csv = build_avdigits(mnist, fsdd.parent, tmp_path / "out", test_speakers=("bob",), n_per_clip=2)
    table = _check_rows(csv, mnist)
    train, test = avdigits_splits(table)
    assert set(test["speaker"]) == {"bob"} and "bob" not in set(train["speaker"])
    assert (len(train), len(test)) == (10 * 2 * 2 * 2, 10 * 1 * 2 * 2)  # digits x speakers x clips x n_per_clip
    assert table.groupby("audio").size().eq(2).all()


def test_max_rows_keeps_both_splits_and_pairs_of_the_full_build(fake: tuple[Path, Path], tmp_path: Path) -> None:
    mnist, fsdd = fake
    full = pd.read_csv(build_avdigits(mnist, fsdd, tmp_path / "full", seed=3, test_speakers=("bob",)))
    small = pd.read_csv(build_avdigits(mnist, fsdd, tmp_path / "small", seed=3, test_speakers=("bob",), max_rows=9))
    assert len(small) == 9 and set(small["split"]) == {"train", "test"}
    assert set(zip(small["image"], small["audio"])) <= set(zip(full["image"], full["audio"]))


def test_same_arguments_reuse_the_folder(fake: tuple[Path, Path], tmp_path: Path) -> None:
    mnist, fsdd = fake
    csv = build_avdigits(mnist, fsdd, tmp_path / "out", test_speakers=("bob",))
    stamp = csv.stat().st_mtime_ns
    assert build_avdigits(mnist, fsdd, tmp_path / "out", test_speakers=("bob",)) == csv
    assert csv.stat().st_mtime_ns == stamp
    build_avdigits(mnist, fsdd, tmp_path / "out", test_speakers=("carol",))
    assert set(avdigits_splits(pd.read_csv(csv))[1]["speaker"]) == {"carol"}


def test_missing_mnist_file_is_named(fake: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"MNIST file .*nope\.npz not found"):
        build_avdigits(tmp_path / "nope.npz", fake[1], tmp_path / "out", test_speakers=("bob",))


def test_folder_without_wavs_is_refused(fake: tuple[Path, Path], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \.wav files in FSDD folder .*empty"):
        build_avdigits(fake[0], tmp_path / "empty", tmp_path / "out")


def test_unknown_test_speaker_lists_the_valid_ones(fake: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown test speaker\(s\) 'theo'.* are alice, bob, carol"):
        build_avdigits(fake[0], fake[1], tmp_path / "out")


def test_every_unparseable_name_is_listed(fake: tuple[Path, Path], tmp_path: Path) -> None:
    mnist, fsdd = fake
    (fsdd / "ten_bob_1.wav").touch()
    (fsdd / "3-bob-1.wav").touch()
    with pytest.raises(DataError, match=r"2 file name\(s\) .* do not match .*3-bob-1\.wav, ten_bob_1\.wav") as info:
        build_avdigits(mnist, fsdd, tmp_path / "out", test_speakers=("bob",))
    assert len(info.value.problems) == 2


def test_too_few_mnist_images_for_n_per_clip(fake: tuple[Path, Path], tmp_path: Path) -> None:
    # train split: 2 speakers x 2 clips x 3 images = 12 > 8 train images of each digit
    with pytest.raises(ValueError, match=r"train split needs 12 MNIST train images of digit 0 .* MNIST has 8"):
        build_avdigits(fake[0], fake[1], tmp_path / "out", test_speakers=("bob",), n_per_clip=3)


def test_splits_refuses_an_unknown_split_value() -> None:
    with pytest.raises(ValueError, match=r"'split' holds 'valid'"):
        avdigits_splits(pd.DataFrame({"split": ["train", "valid"]}))


@pytest.mark.data
def test_real_avdigits_subsample(shared_data: Path, tmp_path: Path) -> None:
    mnist = shared_data / "mnist" / "mnist.npz"
    csv = build_avdigits(mnist, shared_data / "fsdd", tmp_path / "av", seed=0, max_rows=40)
    table = _check_rows(csv, mnist)
    train, test = avdigits_splits(table)
    assert len(table) == 40 and len(test) > 0 and len(train) > 0
    assert set(test["speaker"]) == {"theo"} and "theo" not in set(train["speaker"])
    samples, rate = sf.read(table["audio"].iloc[0])
    assert rate == 8000 and len(samples) > 0
