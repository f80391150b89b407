from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from polymodal.data.cells import AUDIO_EXTENSIONS, is_missing, to_float


@pytest.mark.parametrize("value", [None, float("nan"), np.float32("nan"), pd.NA, pd.NaT, np.datetime64("NaT"),
                                   np.timedelta64("NaT")])
def test_every_kind_of_blank_is_missing(value: object) -> None:
    assert is_missing(value)


@pytest.mark.parametrize("value", ["", " ", 0, 0.0, False, np.zeros(3), [None], (None, 1), "NaT", "<NA>",
                                   pd.Timestamp("2020-01-01"), np.datetime64("2020-01-01")])
def test_values_are_not_missing(value: object) -> None:
    assert not is_missing(value)


def test_extension_dtype_blanks_are_missing() -> None:
    for series in (pd.Series([1, None], dtype="Int64"), pd.Series(["a", None], dtype="string[pyarrow]"),
                   pd.Series([True, None], dtype="boolean"), pd.Series(pd.to_datetime(["2020-01-01", None]))):
        assert [is_missing(v) for v in series.tolist()] == [False, True], series.dtype


def test_audio_extensions_are_every_format_soundfile_reads() -> None:
    assert {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".au", ".caf", ".w64"} <= AUDIO_EXTENSIONS
    formats = {f".{name.lower()}" for name in sf.available_formats()}
    assert formats - AUDIO_EXTENSIONS == {".raw", ".wavex", ".mat4", ".mat5"}


def test_datetimes_and_durations_as_numbers() -> None:
    assert to_float(pd.Timestamp("1970-01-02")) == 86400.0
    assert to_float(np.datetime64("1970-01-01T00:01")) == 60.0
    assert to_float(pd.Timedelta("90s")) == 90.0
    assert np.isnan(to_float(pd.NA)) and np.isnan(to_float(pd.NaT))


def test_media_held_in_cells_is_recognised_by_magic_struct_or_shape() -> None:
    from PIL import Image

    from polymodal.data.cells import media_kind
    from tests.hf_media import png_bytes, wav_bytes

    assert [media_kind(v) for v in (png_bytes(0), wav_bytes(0), wav_bytes(0, fmt="FLAC"), b"\xff\xd8\xff\xe0",
                                    b"not media")] == ["image", "audio", "audio", "image", None]
    assert media_kind({"bytes": png_bytes(0), "path": "x.wav"}) == "image"  # the bytes decide
    assert media_kind({"bytes": None, "path": "clip.flac"}) == "audio"  # else the path's extension
    assert media_kind({"bytes": b"???", "path": None}) is None
    assert [media_kind(v) for v in (np.zeros((4, 5)), np.zeros((4, 5, 3), np.uint8), np.zeros((4, 5, 2)),
                                    np.zeros(6), np.zeros((1, 6)), Image.new("L", (3, 3)))] == [
        "image", "image", None, None, None, "image"]
    assert [media_kind(v) for v in ((np.zeros(9), 8000), ([0.0, 0.1], 16000), (np.zeros(9), 0), ("a", "b"),
                                    {"array": np.zeros(3), "sampling_rate": 8000})] == [
        "audio", "audio", None, None, "audio"]


def test_an_empty_media_struct_is_missing() -> None:
    assert is_missing({"bytes": None, "path": None}) and is_missing({"path": None})
    assert not is_missing({"bytes": None, "path": "a.png"}) and not is_missing({"other": None})
