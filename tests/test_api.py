import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import polymodal
from polymodal.cli import main
from polymodal.errors import BundleError, DataError

FAST = {"epochs": 4, "progress": False, "batch_size": 128,
        "encoder_args": {"image": {"base_channels": 8, "output_dim": 32}}}


@pytest.fixture(scope="module")
def digits_model(digits_csv: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("model") / "bundle"
    predictor = polymodal.fit(digits_csv, target="digit", fusion="concat", out=out, lr=3e-3, **FAST)
    return predictor, out


def test_concat_fusion_beats_chance_by_a_wide_margin(digits_model) -> None:
    predictor, _ = digits_model
    assert predictor.metrics["validation"]["digit"]["accuracy"] > 0.5  # chance is 0.1


def test_bundle_loads_and_predicts_in_a_new_process(digits_model, digits_csv: Path, tmp_path: Path) -> None:
    predictor, bundle = digits_model
    out = tmp_path / "pred.csv"
    code = ("import polymodal,sys; p=polymodal.load(sys.argv[1]); "
            "p.predict(sys.argv[2]).to_csv(sys.argv[3], index=False)")
    subprocess.run([sys.executable, "-c", code, str(bundle), str(digits_csv), str(out)], check=True)
    fresh = pd.read_csv(out)
    here = predictor.predict(digits_csv)
    assert len(fresh) == 1797 and (fresh["digit"].to_numpy() == here["digit"].to_numpy()).all()
    assert list(fresh["row"]) == list(range(1797))


def test_rows_with_a_missing_modality_are_still_predicted(digits_model, digits_csv: Path) -> None:
    predictor, _ = digits_model
    frame = pd.read_csv(digits_csv).head(10)
    frame.loc[:4, "noisy"] = None
    preds = predictor.predict(frame.assign(**{c: [str(digits_csv.parent / v) if isinstance(v, str) else v
                                                   for v in frame[c]] for c in ("rotated", "noisy")}))
    assert len(preds) == 10 and preds["digit"].notna().all()


def test_unseen_label_at_evaluation_names_the_row(digits_model, digits_csv: Path) -> None:
    predictor, _ = digits_model
    frame = pd.read_csv(digits_csv).head(5)
    frame["digit"] = frame["digit"].astype(object)
    frame.loc[3, "digit"] = "eleven"
    frame[["rotated", "noisy"]] = frame[["rotated", "noisy"]].map(lambda v: str(digits_csv.parent / v))
    with pytest.raises(DataError, match=r"row 3, column 'digit': unseen label 'eleven'"):
        predictor.evaluate(frame)


def test_inspect_lists_every_problem_of_a_messy_table(messy_table, capsys) -> None:
    path, defects = messy_table
    code = main(["inspect", str(path), "--target", "label", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    found = {(p["row"], p["column"]) for p in report["problems"] if p["row"] is not None}
    assert {(d["row"], d["column"]) for d in defects if d["kind"] != "nan"} <= found


def test_fit_raises_naming_rows_and_skip_trains_and_reports(messy_table, capsys) -> None:
    path, _ = messy_table
    assert main(["fit", str(path), "--target", "label", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "row 5, column 'image'" in err and "row 8, column 'audio'" in err and "--on-error skip" in err
    predictor = polymodal.fit(path, target="label", on_error="skip", **FAST)
    assert dict(predictor.last_report.skipped_cells) == {"image": 2, "audio": 1, "num_a": 1, "text": 1, "num_b": 1}


def test_load_refuses_a_pickle(tmp_path: Path) -> None:
    import pickle

    (tmp_path / "model.pkl").write_bytes(pickle.dumps([1]))
    with pytest.raises(BundleError, match="pickle"):
        polymodal.load(tmp_path / "model.pkl")


def test_unknown_option_lists_valid_ones(digits_csv: Path) -> None:
    with pytest.raises(TypeError, match="unknown option 'epoch'; valid options:"):
        polymodal.fit(digits_csv, target="digit", epoch=3)


TINY_MEDIA = {"epochs": 1, "progress": False, "batch_size": 32,
              "encoder_args": {"image": {"base_channels": 4, "output_dim": 8}}}


def test_a_hugging_face_parquet_table_trains_predicts_and_streams(tmp_path: Path) -> None:
    from tests.hf_media import hf_parquet

    table = hf_parquet(tmp_path / "hf.parquet")
    predictor = polymodal.fit(table, target="label", **TINY_MEDIA)
    assert {m.name: m.kind.value for m in predictor.pipeline.schema.modalities} == {"image": "image",
                                                                                    "audio": "audio"}
    predictions = predictor.predict(table)
    assert predictions["row"].tolist() == list(range(24)) and set(predictions["label"]) <= {"c0", "c1"}
    streamed = polymodal.fit(table, target="label", stream=True, chunk_rows=10, **TINY_MEDIA)
    assert streamed.metrics["sizes"]["train"] + streamed.metrics["sizes"]["val"] == 24


def test_a_dataframe_of_arrays_pil_images_and_audio_tuples_trains_and_predicts() -> None:
    import numpy as np
    from PIL import Image

    from tests.hf_media import image_pixels, wave

    frame = pd.DataFrame({
        "photo": [image_pixels(i) if i % 2 else image_pixels(i).mean(axis=2) / 255.0 for i in range(24)],
        "picture": [Image.fromarray(image_pixels(i)) for i in range(24)],
        "sound": [(wave(i), 8000) for i in range(24)],
        "label": [f"c{i % 2}" for i in range(24)]})
    predictor = polymodal.fit(frame, target="label", **TINY_MEDIA)
    kinds = {m.name: m.kind.value for m in predictor.pipeline.schema.modalities}
    assert kinds == {"photo": "image", "picture": "image", "sound": "audio"}
    predictions = predictor.predict(frame.drop(columns="label"))
    assert len(predictions) == 24 and np.isfinite(predictions["label_proba_c1"]).all()
