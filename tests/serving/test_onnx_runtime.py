"""``polymodal predict --runtime onnx``: the exported graph after polymodal's preprocessing, same table as torch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import polymodal
from polymodal.cli import main
from polymodal.serving.onnx_export import ExportError
from polymodal.serving.onnx_runtime import predict_onnx
from tests.serving.test_onnx_export import two_modality_frame

pytest.importorskip("onnxruntime", reason="ONNX export needs onnx and onnxruntime (the export extra)")
pytest.importorskip("onnx", reason="ONNX export needs onnx and onnxruntime (the export extra)")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("onnx")
    frame = two_modality_frame()
    frame.to_csv(folder / "table.csv", index=False)
    predictor = polymodal.fit(frame, target="label", fusion="concat", epochs=1, progress=False, preset="none",
                              baseline=False, batch_size=16)
    predictor.save(folder / "bundle")
    assert main(["export", str(folder / "bundle"), "--format", "onnx", "--out", str(folder / "model.onnx"),
                 "--check-table", str(folder / "table.csv")]) == 0
    return folder


def test_predict_with_the_onnx_runtime_writes_what_torch_predict_writes(exported, capsys) -> None:
    capsys.readouterr()
    folder = exported
    table, bundle = str(folder / "table.csv"), str(folder / "bundle")
    assert main(["predict", bundle, table, "--out", str(folder / "torch.csv")]) == 0
    assert main(["predict", bundle, table, "--out", str(folder / "onnx.csv"), "--runtime", "onnx",
                 "--onnx", str(folder / "model.onnx")]) == 0
    torch_rows, onnx_rows = pd.read_csv(folder / "torch.csv"), pd.read_csv(folder / "onnx.csv")
    assert list(onnx_rows.columns) == list(torch_rows.columns) == ["row", "label", "label_proba_0", "label_proba_1",
                                                                   "label_proba_2"]
    assert onnx_rows[["row", "label"]].equals(torch_rows[["row", "label"]])
    proba = [c for c in torch_rows.columns if "_proba_" in c]
    assert np.abs(onnx_rows[proba].to_numpy() - torch_rows[proba].to_numpy()).max() < 1e-5
    assert "64 prediction(s) written" in capsys.readouterr().out


def test_a_graph_of_another_bundle_and_a_missing_onnx_file_are_refused(exported, capsys) -> None:
    folder = exported
    frame = two_modality_frame(seed=1)
    other = polymodal.fit(frame, target="label", fusion="concat", epochs=1, progress=False, preset="none",
                          baseline=False, batch_size=16, seed=3)
    with pytest.raises(ExportError, match=r"was exported from another model than this bundle's \(the weights "
                                          r"differ\)"):
        predict_onnx(other, frame, folder / "model.onnx")
    assert main(["predict", str(folder / "bundle"), str(folder / "table.csv"), "--out", str(folder / "p.csv"),
                 "--runtime", "onnx"]) == 2
    assert "--runtime onnx needs --onnx FILE" in capsys.readouterr().err
    assert main(["predict", str(folder / "bundle"), str(folder / "table.csv"), "--out", str(folder / "p.csv"),
                 "--onnx", str(folder / "absent.onnx")]) == 2
    assert f"ONNX file {folder / 'absent.onnx'} not found" in capsys.readouterr().err
