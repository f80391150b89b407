"""File samples: keyed by a file's bytes, decoded on demand; load_table leaves known files undecoded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from polymodal.cache.keys import content_key
from polymodal.data.file_sample import FileSample, decoded
from polymodal.data.loading import UnreadableFile
from polymodal.data.schema import infer_schema
from polymodal.data.table import read_table
from polymodal.data.validation import load_table
from polymodal.errors import DataError


def _png(path, value: int):
    Image.fromarray(np.full((5, 5), value, np.uint8)).save(path)
    return path


def test_key_follows_the_bytes_and_decoding_is_lazy(tmp_path):
    a, b, c = _png(tmp_path / "a.png", 1), _png(tmp_path / "b.png", 1), _png(tmp_path / "c.png", 2)
    sa, sb, sc = (FileSample.of(p, "image") for p in (a, b, c))
    assert sa.key == sb.key != sc.key  # same bytes, same key, wherever the file lives
    assert content_key(sa) == sa.key and len(sa.key) == 16
    assert sa.value is None and decoded(sa).tolist() == np.full((5, 5), 1, np.uint8).tolist()
    assert FileSample.of(a, "audio").key != sa.key  # the kind is part of the key
    _png(a, 9)
    assert FileSample.of(a, "image").key != sa.key  # an edit changes the key
    with pytest.raises(ValueError, match="changed after the table was loaded"):
        sa.decoded()
    with pytest.raises(ValueError, match="image or audio"):
        FileSample.of(a, "text")


def test_a_broken_file_is_reported_when_decoded(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(UnreadableFile, match="not a readable image"):
        FileSample.of(bad, "image").decoded()


def _table(tmp_path):
    paths = [_png(tmp_path / f"{i}.png", i) for i in range(3)]
    (tmp_path / "broken.png").write_bytes(b"broken")
    frame = pd.DataFrame({"img": [*map(str, paths), str(tmp_path / "broken.png"), None], "y": [0, 1, 0, 1, 0]})
    table = read_table(frame)
    return table, infer_schema(frame, ["y"], {"img": "image"}), paths


def test_load_table_decodes_only_what_the_lookup_lacks(tmp_path):
    table, schema, paths = _table(tmp_path)
    known = {FileSample.of(paths[0], "image").key}
    asked: list[int] = []

    def lookup(keys):
        asked.append(len(keys))
        return np.array([k in known for k in keys])

    loaded = load_table(table, schema, on_error="skip", file_lookups={"img": lookup})
    cells = loaded.modalities["img"]["img"].tolist()
    assert asked == [4]  # one question for every readable path (the broken file's bytes are keyed too)
    assert isinstance(cells[0], FileSample) and cells[0].value is None  # known: not decoded
    assert isinstance(cells[1], FileSample) and cells[1].value.tolist() == np.full((5, 5), 1).tolist()
    assert cells[3] is None and cells[4] is None  # the broken file is skipped as usual; the blank is missing
    assert loaded.report.skipped_cells["img"] == 1


def test_load_table_still_reports_broken_files_with_row_and_column(tmp_path):
    table, schema, _ = _table(tmp_path)
    with pytest.raises(DataError) as info:
        load_table(table, schema, file_lookups={"img": lambda keys: np.zeros(len(keys), bool)})
    problem = info.value.problems[0]
    assert (problem.row, problem.column) == (3, "img") and "not a readable image" in problem.message


def test_in_table_bytes_are_keyed_like_the_same_file_and_decoded_only_when_needed(tmp_path):
    from tests.hf_media import image_pixels, png_bytes

    (tmp_path / "0.png").write_bytes(png_bytes(0))
    frame = pd.DataFrame({"img": [png_bytes(0), {"bytes": png_bytes(1), "path": "1.png"}, b"broken"],
                          "y": [0, 1, 0]})
    table = read_table(frame)
    schema = infer_schema(frame, ["y"], {"img": "image"})
    known = {FileSample.of(tmp_path / "0.png", "image").key}
    loaded = load_table(table, schema, on_error="skip",
                        file_lookups={"img": lambda keys: np.array([k in known for k in keys])})
    cells = loaded.modalities["img"]["img"].tolist()
    assert cells[0].key == FileSample.of_bytes(png_bytes(0), "image").key and cells[0].value is None
    assert cells[0].decoded().tolist() == image_pixels(0).tolist()  # decoded from its bytes when asked
    assert cells[1].value.tolist() == image_pixels(1).tolist() and cells[2] is None
