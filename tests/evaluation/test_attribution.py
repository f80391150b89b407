"""Integrated gradients on raw inputs: a heat map per image row, token attributions for text, reasons otherwise."""

from __future__ import annotations

import pytest
from PIL import Image

import polymodal
from polymodal.datasets import make_synthetic_table
from polymodal.evaluation.attribution import integrated_gradients

pytest.importorskip("captum", reason="integrated gradients need Captum (the explain extra)")


def test_an_image_heat_map_is_written_and_the_attributions_are_complete(media_model, tmp_path) -> None:
    bundle, csv = media_model
    predictor = polymodal.load(bundle)
    data = predictor.pipeline.transform(predictor.load_cells(csv))
    result = integrated_gradients(predictor, data, tmp_path / "maps", samples=2, steps=64)
    images = [a for a in result.items if a.modality == "image"]
    assert [a.row for a in images] == [0, 1]
    for item in images:
        assert item.heatmap == tmp_path / "maps" / f"image-row{item.row}.png"
        with Image.open(item.heatmap) as png:
            assert png.format == "PNG" and png.width > 200
        assert item.values.shape == tuple(data.inputs["image"].shape[1:])
        assert abs(item.convergence_delta) < 1e-2  # completeness: attributions add up to f(x) - f(baseline)
    text = [a for a in result.items if a.modality == "text"]
    assert text and all(len(a.tokens) == len(a.values) > 0 for a in text)
    assert result.skipped == {"tabular": "tabular inputs are not attributed by integrated gradients (see the "
                                         "permutation importance of its columns)"}


def test_a_text_encoder_without_an_embedding_layer_is_skipped_with_the_reason(tmp_path) -> None:
    frame = make_synthetic_table(tmp_path / "table", n_rows=24, kinds=("text", "numeric"))
    predictor = polymodal.fit(frame, target="label", fusion="early", epochs=1, progress=False, preset="none",
                              baseline=False)
    data = predictor.pipeline.transform(predictor.load_cells(frame))
    result = integrated_gradients(predictor, data, tmp_path)
    assert result.items == []
    assert result.skipped["text"] == "its encoder (RawEncoder) has no token embedding layer to attribute to"
