import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from polymodal.engine.bundle import BundleContents, load_bundle, save_bundle
from polymodal.errors import BundleError


def _contents() -> BundleContents:
    return BundleContents(
        kind="supervised", config={"a": 1}, model={"sizes": [1, 2]}, weights={"w": torch.arange(6.0).reshape(2, 3)},
        pipeline_state={"p": "x"}, pipeline_arrays={"m/mean": np.array([1.5, 2.5])}, metrics={"acc": 0.5},
    )


def test_round_trip(tmp_path: Path) -> None:
    save_bundle(tmp_path / "b", _contents())
    back = load_bundle(tmp_path / "b")
    assert back.config == {"a": 1} and back.metrics == {"acc": 0.5}
    assert torch.equal(back.weights["w"], torch.arange(6.0).reshape(2, 3))
    assert np.array_equal(back.pipeline_arrays["m/mean"], [1.5, 2.5])


def test_refuses_a_pickle_file_and_a_folder_holding_one(tmp_path: Path) -> None:
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps({"weights": [1, 2]}))
    with pytest.raises(BundleError, match=r"pickle-based file, and loading a pickle can run arbitrary code"):
        load_bundle(model)
    save_bundle(tmp_path / "b", _contents())
    torch.save({"x": 1}, tmp_path / "b" / "extra.pt")
    with pytest.raises(BundleError, match=r"refusing to load .*extra\.pt"):
        load_bundle(tmp_path / "b")


def test_incomplete_bundle(tmp_path: Path) -> None:
    save_bundle(tmp_path / "b", _contents())
    (tmp_path / "b" / "model.safetensors").unlink()
    with pytest.raises(BundleError, match=r"not a complete polymodal bundle: missing model.safetensors"):
        load_bundle(tmp_path / "b")


def test_refuses_a_pickle_disguised_as_safetensors(tmp_path: Path) -> None:
    import polymodal

    save_bundle(tmp_path / "b", _contents())
    torch.save({"w": torch.zeros(2)}, tmp_path / "b" / "model.safetensors")  # a zip-wrapped pickle
    with pytest.raises(BundleError, match=r"refusing to load .*model\.safetensors: it is a pickle-based file"):
        polymodal.load(tmp_path / "b")
    (tmp_path / "b" / "model.safetensors").write_bytes(pickle.dumps({"w": [0.0]}, protocol=4))
    with pytest.raises(BundleError, match=r"model\.safetensors: it is a pickle-based file"):
        load_bundle(tmp_path / "b")


def test_a_kill_while_saving_leaves_the_previous_bundle(tmp_path: Path, tabular_csv: Path) -> None:
    import sys
    import textwrap

    import polymodal
    from tests.engine.processes import kill_when

    bundle, ready = tmp_path / "model", tmp_path / "writing"
    before = polymodal.fit(tabular_csv, target="label", epochs=1, progress=False, out=bundle)
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        import polymodal
        import polymodal.engine.bundle as bundle

        def blocking_save(tensors, path):
            Path(path).write_bytes(b"half a safetens")  # a partial weights file, then hang until killed
            Path({str(ready)!r}).touch()
            time.sleep(600)

        predictor = polymodal.load({str(bundle)!r})
        predictor.metrics["saved_by"] = "the killed process"
        bundle.save_file = blocking_save
        predictor.save({str(bundle)!r})
    """)
    kill_when([sys.executable, "-c", script], ready.exists)
    after = polymodal.load(bundle)
    assert "saved_by" not in after.metrics
    assert after.predict(tabular_csv).equals(before.predict(tabular_csv))
