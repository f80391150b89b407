import difflib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from polymodal.data.cells import is_missing
from polymodal.data.dataset import EncodedData
from polymodal.data.kinds import ColumnKind
from polymodal.data.pipeline import DataPipeline
from polymodal.data.schema import Schema, infer_schema
from polymodal.data.table import read_table
from polymodal.data.validation import LoadedTable, load_table
from polymodal.evaluation.corruptions import CORRUPTIONS, corrupt, corruption_kinds, corruptions_for

MISSING_ROWS = [0, 5]


@pytest.fixture(scope="module")
def table(synthetic_csv: Path) -> tuple[LoadedTable, Schema]:
    """The synthetic table loaded, with rows 0 and 5 missing in every column of every modality."""
    tbl = read_table(synthetic_csv)
    schema = infer_schema(tbl.frame, "label")
    loaded = load_table(tbl, schema)
    for frame in loaded.modalities.values():
        for column in frame.columns:
            blank = np.nan if frame[column].dtype != object else None
            frame.loc[MISSING_ROWS, column] = blank
    return loaded, schema


def same_cell(a: Any, b: Any) -> bool:
    if is_missing(a) or is_missing(b):
        return is_missing(a) and is_missing(b)
    if isinstance(a, tuple):  # audio: (samples, rate)
        return a[1] == b[1] and same_cell(a[0], b[0])
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    return bool(a == b)


def changed_cells(x: LoadedTable, y: LoadedTable) -> dict[str, int]:
    """Number of cells that differ, per column."""
    out = {}
    for name, frame in x.modalities.items():
        for column in frame.columns:
            pairs = zip(frame[column].tolist(), y.modalities[name][column].tolist())
            out[column] = sum(not same_cell(a, b) for a, b in pairs)
    return out


def column(loaded: LoadedTable, name: str) -> list[Any]:
    """The present cells of the single-column modality ``name``."""
    return [v for i, v in enumerate(loaded.modalities[name][name]) if i not in MISSING_ROWS]


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_level_zero_is_the_identity(table, name: str) -> None:
    loaded, schema = table
    same = corrupt(loaded, schema, name, 0.0, seed=3)
    assert not any(changed_cells(loaded, same).values())
    for frame, other in zip(loaded.modalities.values(), same.modalities.values()):
        assert (frame.dtypes == other.dtypes).all()


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_seed_decides_the_output(table, name: str) -> None:
    loaded, schema = table
    first = corrupt(loaded, schema, name, 0.5, seed=1)
    assert not any(changed_cells(first, corrupt(loaded, schema, name, 0.5, seed=1)).values())
    other_seed = sum(changed_cells(first, corrupt(loaded, schema, name, 0.5, seed=2)).values())
    assert other_seed > 0 if CORRUPTIONS.create(name).random else other_seed == 0
    rows = changed_cells(corrupt(loaded, schema, name, 0.5, seed=1, fraction=0.5),
                         corrupt(loaded, schema, name, 0.5, seed=2, fraction=0.5))
    assert sum(rows.values()) > 0  # the seed also picks the rows
    assert sum(changed_cells(loaded, first).values()) > 0  # it did corrupt something


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_missing_stays_missing_and_the_input_is_untouched(table, name: str) -> None:
    loaded, schema = table
    snapshot = {n: f.map(lambda v: v.copy() if isinstance(v, np.ndarray) else v) for n, f in loaded.modalities.items()}
    out = corrupt(loaded, schema, name, 1.0, seed=0)
    for modality, frame in out.modalities.items():
        for col in frame.columns:
            missing = [i for i, v in enumerate(frame[col]) if is_missing(v)]
            if corruption_kinds(name) & {ColumnKind.TEXT}:  # dropping every word empties a text, never nulls it
                assert missing == MISSING_ROWS
            assert [i for i in MISSING_ROWS if i not in missing] == [], (modality, col)
            assert all(same_cell(a, b) for a, b in zip(snapshot[modality][col], loaded.modalities[modality][col]))


def test_every_kind_has_a_corruption_and_kinds_are_declared() -> None:
    for kind in ColumnKind:
        if kind is not ColumnKind.IGNORE:
            assert len(corruptions_for(kind)) >= 2, kind
    assert corruption_kinds("swap") == {ColumnKind.NUMERIC, ColumnKind.CATEGORICAL}
    assert all(entry.description and "\n" not in entry.description for entry in CORRUPTIONS)


def test_image_noise_grows_with_the_level(table) -> None:
    loaded, schema = table
    clean = np.stack(column(loaded, "image")[1:4]).astype(float)
    stds = []
    for level in (0.1, 0.2, 0.4, 0.8):
        noisy = np.stack(column(corrupt(loaded, schema, "image_noise", level, modality="image"), "image")[1:4])
        stds.append(float((noisy - clean).std()))
    assert stds == sorted(stds) and stds[0] == pytest.approx(0.1 * 0.5 * 255, rel=0.15)


def test_blur_and_occlusion_damage_grows_with_the_level(table) -> None:
    loaded, schema = table
    clean = np.stack(column(loaded, "image")[1:20]).astype(float)
    for name in ("blur", "occlusion"):
        damage = [np.abs(np.stack(column(corrupt(loaded, schema, name, lv), "image")[1:20]) - clean).mean()
                  for lv in (0.2, 0.5, 1.0)]
        assert damage == sorted(damage) and damage[0] > 0, name
    occluded = column(corrupt(loaded, schema, "occlusion", 0.25, modality="image"), "image")[1]
    side = round(0.5 * 32)
    assert (occluded == 0).all(axis=-1).sum() >= side * side


def test_audio_noise_keeps_the_signal_at_the_snr_of_the_level(table) -> None:
    loaded, schema = table
    out = corrupt(loaded, schema, "audio_noise", 0.1, modality="audio", seed=0, fraction=0.5)
    changed = 0
    for (clean, rate), (noisy, noisy_rate) in zip(column(loaded, "audio"), column(out, "audio")):
        assert rate == noisy_rate and noisy.dtype == np.float32
        if np.array_equal(clean, noisy):  # rows not drawn keep their own signal: never silence (MultiBench)
            assert np.abs(noisy).max() > 0
            continue
        changed += 1
        snr = 10 * np.log10(np.mean(clean.astype(float) ** 2) / np.mean((noisy - clean).astype(float) ** 2))
        assert snr == pytest.approx(20.0, abs=0.5)  # -20 log10(0.1) dB
    assert 0.4 * 118 < changed < 0.6 * 118


def test_time_mask_silences_a_level_share(table) -> None:
    loaded, schema = table
    clean, _ = column(loaded, "audio")[1]
    masked, _ = column(corrupt(loaded, schema, "time_mask", 0.3), "audio")[1]
    silenced = (masked != clean).sum()
    assert (masked[masked != clean] == 0).all() and silenced <= round(0.3 * len(clean))
    assert silenced > 0.2 * len(clean)


def test_text_corruptions_grow_with_the_level(table) -> None:
    loaded, schema = table
    texts = column(loaded, "text")
    words = [sum(len(t.split()) for t in column(corrupt(loaded, schema, "word_dropout", lv), "text"))
             for lv in (0.0, 0.3, 0.6, 1.0)]
    assert words[0] == sum(len(t.split()) for t in texts) and words == sorted(words, reverse=True)
    assert words[-1] == 0
    similarity = [np.mean([difflib.SequenceMatcher(None, a, b).ratio() for a, b in
                           zip(texts, column(corrupt(loaded, schema, "typos", lv), "text"))])
                  for lv in (0.2, 0.6, 1.0)]
    assert similarity == sorted(similarity, reverse=True) and similarity[0] < 1


def test_tabular_noise_is_in_standard_deviations_and_leaves_categories(table) -> None:
    loaded, schema = table
    out = corrupt(loaded, schema, "tabular_noise", 0.5, modality="tabular")
    clean, noisy = loaded.modalities["tabular"], out.modalities["tabular"]
    shift = (noisy["num_a"] - clean["num_a"]).dropna()
    assert shift.std() == pytest.approx(0.5 * clean["num_a"].std(ddof=0), rel=0.2)
    assert noisy["colour"].equals(clean["colour"])


def test_swap_moves_numbers_between_rows_and_replaces_categories(table) -> None:
    loaded, schema = table
    clean, swapped = loaded.modalities["tabular"], corrupt(loaded, schema, "swap", 0.5).modalities["tabular"]
    assert sorted(clean["num_a"].dropna()) == sorted(swapped["num_a"].dropna())
    assert (clean["num_a"] != swapped["num_a"]).sum() == pytest.approx(0.5 * 118, abs=3)
    changed = clean["colour"].notna() & (clean["colour"] != swapped["colour"])
    assert changed.sum() == round(0.5 * 118)
    assert set(swapped["colour"].dropna()) <= set(clean["colour"].dropna())


def test_vector_noise_is_standardised_per_dimension(table) -> None:
    loaded, schema = table
    clean = np.stack(column(loaded, "embedding"))
    out = column(corrupt(loaded, schema, "vector_noise", 0.5), "embedding")
    noisy = np.stack(out)
    assert noisy.dtype == np.float32
    np.testing.assert_allclose((noisy - clean).std(axis=0), 0.5 * clean.std(axis=0), rtol=0.25)


def test_a_corruption_of_another_kind_is_an_error_listing_the_valid_ones(table) -> None:
    loaded, schema = table
    with pytest.raises(ValueError, match=r"'blur' applies to image columns, but modality 'text' holds text; "
                                         r"corruptions for 'text': noise, typos, word_dropout"):
        corrupt(loaded, schema, "blur", 0.5, modality="text")
    with pytest.raises(ValueError, match=r"unknown modality 'sound'; modalities: image, audio"):
        corrupt(loaded, schema, "blur", 0.5, modality="sound")
    with pytest.raises(ValueError, match=r"unknown corruption 'fog'; known corruptions: audio_noise, blur"):
        corrupt(loaded, schema, "fog", 0.5)
    with pytest.raises(ValueError, match=r"level must be in \[0, 1\], got 1.5"):
        corrupt(loaded, schema, "blur", 1.5)


def test_no_applicable_modality_is_an_error(table) -> None:
    loaded, schema = table
    only_text = Schema([schema.modality("text")], schema.targets)
    with pytest.raises(ValueError, match=r"'blur' applies to image columns, and this table has none \(it has text\)"):
        corrupt(loaded, only_text, "blur", 0.5)


def test_frames_keep_their_index_and_targets(table) -> None:
    loaded, schema = table
    out = corrupt(loaded, schema, "noise", 0.5)
    pd.testing.assert_frame_equal(out.targets, loaded.targets)
    assert list(out.modalities) == list(loaded.modalities)
    assert np.array_equal(out.rows, loaded.rows)


@pytest.fixture(scope="module")
def fitted(table) -> tuple[DataPipeline, EncodedData]:
    loaded, schema = table
    pipeline = DataPipeline(schema).fit(loaded, np.arange(len(loaded.rows)))
    return pipeline, pipeline.transform(loaded)


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_corrupted_cells_go_through_the_fitted_preprocessing(table, fitted, name: str) -> None:
    loaded, schema = table
    pipeline, clean = fitted
    out = pipeline.transform(corrupt(loaded, schema, name, 1.0, seed=0))
    for modality, mask in out.masks.items():
        if modality != "text":  # a text whose every word was dropped is empty, hence absent
            assert torch.equal(mask, clean.masks[modality]), modality
        assert torch.isfinite(out.inputs[modality].float()).all(), modality
    assert any(not torch.equal(out.inputs[m], clean.inputs[m]) for m in out.inputs)
