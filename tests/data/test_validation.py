import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polymodal.data.cells import is_missing
from polymodal.data.schema import infer_schema
from polymodal.data.table import read_table
from polymodal.data.validation import load_table
from polymodal.errors import DataError


def _load(path: Path, **kwargs):
    table = read_table(path)
    schema = infer_schema(table.frame, "label")
    return load_table(table, schema, **kwargs)


def test_every_defect_is_reported_with_row_column_and_file(messy_table) -> None:
    path, defects = messy_table
    with pytest.raises(DataError) as info:
        _load(path)
    found = {(p.row, p.column) for p in info.value.problems}
    errors = {(d["row"], d["column"]) for d in defects if d["kind"] != "nan"}
    assert errors <= found
    messages = {(p.row, p.column): p for p in info.value.problems}
    assert messages[(2, "image")].message == "image file not found"
    assert messages[(2, "image")].file.endswith("missing_0002.png")
    assert "not a readable image" in messages[(5, "image")].message
    assert "truncated WAV" in messages[(8, "audio")].message
    assert messages[(14, "num_a")].message == "infinite value"
    assert messages[(17, "text")].message == "empty text"
    assert messages[(20, "num_b")].message == "expected a number, got str 'abc'"
    assert "--on-error skip" in str(info.value)


def test_nan_is_a_warning_not_an_error(messy_table) -> None:
    path, _ = messy_table
    report = _load(path, on_error="skip").report
    warnings = [p for p in report.warnings if p.column == "num_a"]
    assert len(warnings) == 1 and "rows 11" in warnings[0].message


def test_skip_treats_bad_cells_as_missing_and_counts_them(messy_table) -> None:
    path, _ = messy_table
    loaded = _load(path, on_error="skip")
    assert dict(loaded.report.skipped_cells) == {"image": 2, "audio": 1, "num_a": 1, "text": 1, "num_b": 1}
    assert loaded.modalities["image"]["image"].iloc[5] is None
    assert loaded.modalities["audio"]["audio"].iloc[8] is None
    assert len(loaded.rows) == 30  # no row dropped: only cells
    assert "2 cell(s) of 'image' treated as missing" in loaded.report.skip_summary()


def test_rows_without_target_are_dropped_and_reported(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "label": ["a", None, "b", "a"]})
    table = read_table(frame, base_dir=tmp_path)
    schema = infer_schema(frame, "label")
    with pytest.raises(DataError, match=r"row 1, column 'label': no target value"):
        load_table(table, schema)
    loaded = load_table(table, schema, on_error="skip")
    assert loaded.report.dropped_rows == [1]
    assert list(loaded.rows) == [0, 2, 3]


def test_data_root_refuses_escaping_paths(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    frame = pd.DataFrame({"img": ["../secret.png", "../secret.png"], "label": [0, 1]})
    table = read_table(frame, base_dir=tmp_path / "root")
    schema = infer_schema(frame, "label", ["img=image"])
    with pytest.raises(DataError, match="outside the data root"):
        load_table(table, schema, data_root=tmp_path / "root")


def test_vector_length_mismatch_names_the_row(tmp_path: Path) -> None:
    frame = pd.DataFrame({"v": ["[1, 2]", "[3, 4]", "[5]"], "label": [0, 1, 0]})
    table = read_table(frame, base_dir=tmp_path)
    with pytest.raises(DataError, match=r"row 2, column 'v': vector of length 1; most rows have 2"):
        load_table(table, infer_schema(frame, "label"))


def test_on_error_value_is_checked(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "label": [0, 1]})
    with pytest.raises(ValueError, match="on_error must be one of raise, skip"):
        load_table(read_table(frame), infer_schema(frame, "label"), on_error="ignore")


def test_extension_dtype_blanks_are_missing_cells_not_errors(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "n": pd.array([1, pd.NA, 3, 4], dtype="Int64"), "b": pd.array([True, pd.NA, False, True], dtype="boolean"),
        "s": pd.array(["a", pd.NA, "b", "a"], dtype="string[pyarrow]"),
        "t": pd.array(["a long text here", pd.NA, "another long text", "and more words"], dtype="string[pyarrow]"),
        "label": pd.array([0, 1, pd.NA, 1], dtype="Int64"),
    })
    table = read_table(frame, base_dir=tmp_path)
    schema = infer_schema(frame, "label", {"t": "text"})
    loaded = load_table(table, schema, on_error="skip")
    assert [p.message for p in loaded.report.errors] == ["no target value"]
    assert loaded.report.dropped_rows == [2]
    tab = loaded.modalities["tabular"]
    assert is_missing(tab["b"].tolist()[1]) and is_missing(tab["s"].tolist()[1])  # not the category '<NA>'
    assert is_missing(loaded.modalities["t"]["t"].tolist()[1])
    assert tab["n"].tolist()[0] == 1.0 and np.isnan(tab["n"].tolist()[1])  # a blank number, not an error
    assert [p.message for p in loaded.report.warnings] == ["1 missing value(s) in rows 1"]


def test_a_datetime_column_is_reported_and_ignored(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "when": pd.to_datetime(["2020-01-01", None]), "label": ["a", "b"]})
    table = read_table(frame, base_dir=tmp_path)
    report = load_table(table, infer_schema(frame, "label")).report
    assert [str(p) for p in report.warnings] == [
        "column 'when': datetime column 'when' is ignored; give it a kind with "
        "--modality when=numeric|categorical|text to use it"]
    loaded = load_table(table, infer_schema(frame, "label", {"when": "numeric"}))
    assert loaded.modalities["tabular"]["when"].tolist()[0] == 1577836800.0
    assert not [p for p in loaded.report.problems if "datetime" in p.message]


def _image_table(tmp_path: Path, paths: list[str]) -> tuple:
    from PIL import Image

    Image.new("L", (4, 4)).save(tmp_path / "ok.png")
    frame = pd.DataFrame({"image": paths, "label": ["a", "b"] * (len(paths) // 2)})
    table = read_table(frame, base_dir=tmp_path)
    return table, infer_schema(frame, "label", {"image": "image"})


@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_a_file_name_too_long_is_a_cell_problem(tmp_path: Path, on_error: str) -> None:
    table, schema = _image_table(tmp_path, ["ok.png", "x" * 300 + ".png"])
    if on_error == "raise":
        with pytest.raises(DataError, match=r"row 1, column 'image': image file name too long for the file system "
                                            r"\(fix the path \(each name at most 255 bytes\)\)"):
            load_table(table, schema)
    else:
        loaded = load_table(table, schema, on_error="skip")
        assert loaded.report.skipped_cells["image"] == 1


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "pics").mkdir()
    table, schema = _image_table(tmp_path, ["ok.png", "pics"])
    with pytest.raises(DataError, match=r"file .*pics, row 1, column 'image': the image path is a folder, not a file"):
        load_table(table, schema)


@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_a_decompression_bomb_is_an_unreadable_file(tmp_path: Path, on_error: str) -> None:
    from PIL import Image

    Image.new("P", (12000, 5000)).save(tmp_path / "bomb.png")
    table, schema = _image_table(tmp_path, ["ok.png", "bomb.png"])
    if on_error == "raise":
        with pytest.raises(DataError, match=r"bomb.png, row 1, column 'image': the image declares 12000 x 5000 pixels "
                                            r"\(60.0 megapixels\), over the limit of 50 megapixels"):
            load_table(table, schema)
    else:
        loaded = load_table(table, schema, on_error="skip")
        assert loaded.report.skipped_cells["image"] == 1
        assert load_table(table, schema, max_image_pixels={"image": 60_000_000}).modalities["image"].shape == (2, 1)


def test_a_column_whose_files_all_fail_says_so(tmp_path: Path) -> None:
    for name in ("a.mp3", "b.mp3"):
        (tmp_path / name).write_bytes(b"not audio at all" * 10)
    frame = pd.DataFrame({"clip": ["a.mp3", "b.mp3"], "x": [1.0, 2.0], "label": ["a", "b"]})
    schema = infer_schema(frame, "label")
    assert schema.modality("clip").kind.value == "audio"
    report = load_table(read_table(frame, base_dir=tmp_path), schema, on_error="skip").report
    [summary] = report.warnings
    assert summary.column == "clip" and summary.file.endswith("a.mp3")
    assert summary.message.startswith("none of the 2 audio file(s) of this column could be read; the first: "
                                      "not readable audio")
    assert summary.hint.endswith("or give the column another kind with --modality clip=text")


# ---------------------------------------------------------------- media held in the table
def test_hugging_face_media_structs_load_as_images_and_audio(tmp_path: Path) -> None:
    from tests.hf_media import hf_parquet, image_pixels, wave

    table = read_table(hf_parquet(tmp_path / "t.parquet"))
    schema = infer_schema(table.frame, "label")
    assert {m.name: m.kind.value for m in schema.modalities} == {"image": "image", "audio": "audio"}
    loaded = load_table(table, schema)
    images, clips = loaded.modalities["image"]["image"].tolist(), loaded.modalities["audio"]["audio"].tolist()
    assert np.array_equal(images[0], image_pixels(0)) and np.array_equal(images[5], image_pixels(1))  # by path
    assert clips[1][1] == 8000 and np.allclose(clips[1][0], wave(1), atol=1e-4)
    assert np.allclose(clips[4][0], wave(4), atol=1e-4)  # FLAC bytes


def test_a_corrupt_bytes_cell_is_reported_with_its_row(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.hf_media import MEDIA_STRUCT, png_bytes, wav_bytes

    images = [{"bytes": png_bytes(i), "path": None} for i in range(6)]
    images[3] = {"bytes": b"\x89PNG\r\n\x1a\n-- cut short --", "path": "x.png"}
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"image": pa.array(images, MEDIA_STRUCT), "sound": [wav_bytes(i) for i in range(5)] +
                             [b"RIFF\x00\x00"], "label": [0, 1] * 3}), path)
    where = re.escape(str(path))
    with pytest.raises(DataError, match=(
            rf"^2 problem\(s\) in {where}; fix them(.|\n)*\n  - file {where}, row 3, column 'image': not a readable "
            r"image \(UnidentifiedImageError: cannot identify image file in the cell\) \(replace the image bytes of "
            rf"the cell\)\n  - file {where}, row 5, column 'sound': not readable audio \(LibsndfileError: Error "
            r"opening in the cell: Format not recognised\.\) \(replace the audio bytes of the cell\)$")):
        _load(path)
    loaded = _load(path, on_error="skip")
    assert loaded.modalities["image"]["image"].tolist()[3] is None and loaded.report.skipped_cells["image"] == 1


def test_in_table_images_keep_the_pixel_limit(tmp_path: Path) -> None:
    from tests.hf_media import png_bytes

    frame = pd.DataFrame({"image": [png_bytes(i) for i in range(4)], "array": [np.zeros((9, 9), np.uint8)] * 4,
                          "label": [0, 1, 0, 1]})
    table = read_table(frame)
    with pytest.raises(DataError, match=r"row 0, column 'image': the image declares 8 x 8 pixels \(0\.0 "
                                        r"megapixels\), over the limit of 5e-05 megapixels; it was not decoded(.|\n)*"
                                        r"row 0, column 'array': the image array has 9 x 9 pixels \(0\.0 megapixels\), "
                                        r"over the limit of 5e-05 megapixels \(raise the image option "
                                        r"max_image_pixels\) \(fix the cell\)"):
        load_table(table, infer_schema(table.frame, "label"), max_image_pixels=50)


def test_decoded_media_in_a_dataframe_load_as_the_files_would(tmp_path: Path) -> None:
    from PIL import Image

    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    frame = pd.DataFrame({
        "photo": [grey, grey.astype(np.float64) / 255.0, np.stack([grey] * 3 + [grey], axis=2), grey[:, :, None]],
        "pil": [Image.fromarray(grey), Image.fromarray(grey).convert("RGB"), Image.fromarray(grey).convert("P"),
                Image.fromarray(grey)],
        "sound": [(np.zeros(40, np.float32), 8000), (np.full((40, 2), 0.5), 16000),
                  (np.array([0, 16384] * 20, np.int16), 8000), {"array": np.ones(8), "sampling_rate": 4000}],
        "label": [0, 1, 0, 1]})
    table = read_table(frame)
    schema = infer_schema(table.frame, "label")
    assert {m.name: m.kind.value for m in schema.modalities} == {"photo": "image", "pil": "image", "sound": "audio"}
    loaded = load_table(table, schema)
    photos, pils, sounds = (loaded.modalities[c][c].tolist() for c in ("photo", "pil", "sound"))
    assert all(np.array_equal(p, grey) for p in (photos[0], photos[1], photos[3], pils[0]))
    assert photos[2].shape == (3, 4, 3) and pils[1].shape == (3, 4, 3) and pils[2].shape == (3, 4, 3)
    assert sounds[1][0].tolist() == [0.5] * 40 and sounds[1][1] == 16000
    assert sounds[2][0][:2].tolist() == [0.0, 0.5] and sounds[3][1] == 4000


def test_media_a_column_cannot_hold_is_reported() -> None:
    frame = pd.DataFrame({"image": [np.zeros((4, 4), np.uint8)] * 8 + [np.zeros((2, 3, 5)), 7],
                          "audio": [(np.zeros(5), 8000)] * 8 + [(np.zeros(5), 0), (np.zeros(0), 8000)],
                          "label": [0, 1] * 5})
    table = read_table(frame)
    with pytest.raises(DataError) as info:
        load_table(table, infer_schema(table.frame, "label"))
    assert [str(p) for p in info.value.problems] == [
        "row 8, column 'image': expected an image array (H, W) or (H, W, C) with C 1, 3 or 4, got shape (2, 3, 5) "
        "(fix the cell)",
        "row 9, column 'image': expected an image (a path, bytes, an image array (H, W[, C]) or a PIL image), got "
        "int 7 (give the file's path, or the media itself)",
        "row 8, column 'audio': the sample rate must be a positive whole number of Hz, got 0 (fix the cell)",
        "row 9, column 'audio': the audio holds no samples (fix the cell)"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_media_paths_of_a_remote_table_resolve_against_its_url(suffix: str) -> None:
    fsspec = pytest.importorskip("fsspec", reason="remote tables need fsspec (the remote extra)")
    import uuid

    from tests.hf_media import image_pixels, png_bytes, wav_bytes

    root = f"memory:///polymodal-test-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    try:
        for i in range(3):
            fs.pipe(f"{root}/data/media/{i}.png", png_bytes(i))
        fs.pipe(f"{root}/sounds/a.wav", wav_bytes(0))
        frame = pd.DataFrame({"image": ["media/0.png", "./media/1.png", f"{root}/data/media/2.png", "media/none.png"],
                              "audio": ["../sounds/a.wav"] * 4, "label": [0, 1, 0, 1]})
        with fs.open(f"{root}/data/t{suffix}", "wb") as fh:
            frame.to_csv(fh, index=False) if suffix == ".csv" else frame.to_parquet(fh)
        table = read_table(f"{root}/data/t{suffix}")
        schema = infer_schema(table.frame, "label")
        loaded = load_table(table, schema, on_error="skip")
        images = loaded.modalities["image"]["image"].tolist()
        assert all(np.array_equal(images[i], image_pixels(i)) for i in range(3)) and images[3] is None
        assert loaded.modalities["audio"]["audio"].tolist()[0][1] == 8000
        assert [str(p) for p in loaded.report.errors] == [
            f"file {root}/data/media/none.png, row 3, column 'image': image file not found (fix the path (relative "
            "paths start at the table's folder))"]
    finally:
        fs.rm(root, recursive=True)
