"""``polymodal.explain`` and ``polymodal explain``: explain.json, heat maps and the printed tables."""

from __future__ import annotations

import json

import pytest

import polymodal
from polymodal.cli import main

pytest.importorskip("captum", reason="integrated gradients need Captum (the explain extra)")


def test_the_python_api_writes_explain_json_and_heat_maps(media_model, tmp_path) -> None:
    bundle, csv = media_model
    result = polymodal.explain(bundle, csv, out=tmp_path / "out", repeats=2, samples=1, steps=8)
    payload = json.loads((tmp_path / "out" / "explain.json").read_text())
    (contribution,) = payload["contributions"]
    assert contribution["modalities"] == ["image", "text", "tabular"] and contribution["method"] == "exact"
    assert sum(contribution["shapley"].values()) == pytest.approx(contribution["full"] - contribution["empty"])
    assert set(contribution["single"]) == set(contribution["leave_one_out"]) == {"image", "text", "tabular"}
    assert len(contribution["per_sample"]["rows"]) == len(contribution["per_sample"]["image"]) == 48
    assert sorted(r["column"] for r in payload["column_importance"]) == ["num_a", "num_b"]
    maps = {item["heatmap"] for item in payload["integrated_gradients"]["items"]}
    assert maps == {"heatmaps/image-row0.png", "heatmaps/text-row0.png"}  # relative to the folder
    assert all((tmp_path / "out" / m).is_file() for m in maps)
    assert result.contribution.shapley == contribution["shapley"]


def test_the_cli_prints_the_three_views_and_writes_the_folder(media_model, tmp_path, capsys) -> None:
    bundle, csv = media_model
    code = main(["explain", str(bundle), str(csv), "--out", str(tmp_path / "ex"), "--repeats", "1", "--samples", "1",
                 "--steps", "8", "--no-gradients"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "modality contribution to label accuracy on 48 rows (Shapley values, exact)" in printed
    for header in ("shapley", "alone", "left out", "permutation importance of the tabular columns", "num_a"):
        assert header in printed
    assert "written " in printed and (tmp_path / "ex" / "explain.json").is_file()
    assert not (tmp_path / "ex" / "heatmaps").exists()


def test_the_cli_refuses_an_out_folder_inside_the_bundle(media_model, capsys) -> None:
    bundle, csv = media_model
    assert main(["explain", str(bundle), str(csv), "--out", str(bundle / "explained")]) == 2
    assert f"--out {bundle / 'explained'} is inside the model bundle {bundle}" in capsys.readouterr().err
