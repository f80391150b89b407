"""ONNX export: the graph reproduces torch's probabilities, a part that does not export is named."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import polymodal
from polymodal.serving.onnx_export import ExportError, export_onnx, sidecar_path, synthetic_batch

ort = pytest.importorskip("onnxruntime", reason="ONNX export needs onnx and onnxruntime (the export extra)")
pytest.importorskip("onnx", reason="ONNX export needs onnx and onnxruntime (the export extra)")


def two_modality_frame(n: int = 64, seed: int = 0) -> pd.DataFrame:
    """Tabular columns and a vector column missing in every third row (a missing modality per row)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    vectors = np.eye(3)[y] + rng.normal(0, 0.5, (n, 3))
    emb = [None if i % 3 == 0 else [float(a) for a in v] for i, v in enumerate(vectors)]
    return pd.DataFrame({"x": y + rng.normal(0, 0.5, n), "colour": rng.choice(["red", "blue"], n), "emb": emb,
                         "label": y})


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return two_modality_frame()


def fitted(frame: pd.DataFrame, fusion: str):
    return polymodal.fit(frame, target="label", fusion=fusion, epochs=1, progress=False, preset="none",
                         baseline=False, batch_size=16)


@pytest.mark.parametrize("fusion", ["concat", "late", "transformer"])
def test_the_graph_reproduces_the_torch_probabilities(frame, fusion, tmp_path) -> None:
    predictor = fitted(frame, fusion)
    data = predictor.pipeline.transform(predictor.load_cells(frame, with_targets=False), with_targets=False)
    assert not data.masks["emb"].all() and data.masks["emb"].any()
    result = export_onnx(predictor, tmp_path / "model.onnx", check_table=frame)
    assert set(result.differences) == {"synthetic", "table"} and result.max_abs_diff < 1e-4
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    feed = {f"input:{m}": data.inputs[m].numpy() for m in sorted(data.inputs)}
    feed.update({f"mask:{m}": data.masks[m].numpy() for m in sorted(data.masks)})
    feed = {k: v for k, v in feed.items() if k in {i.name for i in session.get_inputs()}}
    (proba,) = session.run(["proba:label"], feed)
    expected = predictor.predict_proba(frame.drop(columns="label"))
    assert np.abs(proba - expected).max() < 1e-4
    sidecar = json.loads(sidecar_path(tmp_path / "model.onnx").read_text())
    assert [i["name"] for i in sidecar["inputs"]] == ["input:emb", "mask:emb", "input:tabular", "mask:tabular"]
    assert [(o["name"], o.get("classes")) for o in sidecar["outputs"]] == [("logits:label", None),
                                                                            ("proba:label", [0, 1, 2])]
    assert sidecar["inputs"][0]["shape"] == ["batch", 3] and sidecar["check"]["max_abs_diff"] == result.differences


def test_the_synthetic_batch_follows_input_info_with_every_modality_missing_somewhere(frame) -> None:
    predictor = fitted(frame, "concat")
    batch = synthetic_batch(predictor.pipeline.input_info(), 16)
    assert batch.inputs["emb"].shape == (16, 3) and batch.inputs["tabular"].shape == (16, 2)
    assert all(m[0] and not m.all() for m in batch.masks.values())
    assert not any(m[-1] for m in batch.masks.values())  # a row with no modality at all


class SingularValues(nn.Module):
    """An encoder whose op the ONNX exporter does not support (torch.linalg.svd)."""

    output_dim = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.svdvals(x.view(len(x), 1, -1).expand(-1, 3, -1) + torch.eye(3)[None])


def test_a_part_that_does_not_export_is_named_and_nothing_is_written(frame, tmp_path) -> None:
    predictor = fitted(frame, "concat")
    predictor.model.encoders["emb"] = SingularValues()
    with pytest.raises(ExportError, match=r"cannot export the model to ONNX: the encoder of modality 'emb' "
                                          r"\(SingularValues\) does not export: UnsupportedOperatorError: "
                                          r"Exporting the operator 'aten::linalg_svd"):
        export_onnx(predictor, tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_regression_target_gives_its_value_in_the_targets_units(frame, tmp_path) -> None:
    table = frame.assign(label=frame["x"] * 3 + 100.0)
    predictor = polymodal.fit(table, target="label", epochs=1, progress=False, preset="none", baseline=False)
    export_onnx(predictor, tmp_path / "model.onnx", check_table=table)
    sidecar = json.loads(sidecar_path(tmp_path / "model.onnx").read_text())
    assert [o["name"] for o in sidecar["outputs"]] == ["logits:label", "value:label"]
    data = predictor.pipeline.transform(predictor.load_cells(table, with_targets=False), with_targets=False)
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    feed = {**{f"input:{m}": v.numpy() for m, v in data.inputs.items()},
            **{f"mask:{m}": v.numpy() for m, v in data.masks.items()}}
    (value,) = session.run(["value:label"], feed)
    np.testing.assert_allclose(value[:, 0], predictor.predict(table)["label"], rtol=1e-5)


def test_a_graph_that_does_not_reproduce_the_model_is_an_error_and_nothing_is_written(frame, tmp_path) -> None:
    predictor = fitted(frame, "late")
    with pytest.raises(ExportError, match=r"the ONNX graph does not reproduce the model: the largest difference of "
                                          r"probabilities is .* \(synthetic .*\), not below 0; nothing was written"):
        export_onnx(predictor, tmp_path / "model.onnx", tolerance=0.0)
    assert list(tmp_path.iterdir()) == []


def test_a_fine_tuned_pretrained_backbone_is_named_as_not_exported() -> None:
    info = {"photo": {"kind": "image", "pretrained": "hf:tiny-vit", "train": "full", "embedding_dim": 8}}
    with pytest.raises(ExportError, match=r"modality 'photo': the pretrained encoder hf:tiny-vit is fine-tuned "
                                          r"\(train=full\) and takes its backbone's own inputs; only frozen"):
        synthetic_batch(info)
    frozen = synthetic_batch({"photo": {**info["photo"], "train": "frozen"}}, 4)
    assert frozen.inputs["photo"].shape == (4, 8)
