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
