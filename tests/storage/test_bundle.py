import multiprocessing
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from polymodal.errors import BundleError
from polymodal.storage.bundle import BundleContents, check_writable_bundle_path, load_bundle, save_bundle


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
        import polymodal.storage.bundle as bundle

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


def _save_repeatedly(target: str, index: int, errors: Any) -> None:
    contents = _contents()
    for attempt in range(5):
        contents.metrics = {"by": index, "attempt": attempt}
        try:
            save_bundle(target, contents)
        except Exception as exc:
            errors.put(f"{type(exc).__name__}: {exc}")


def test_concurrent_saves_to_one_folder_all_succeed(tmp_path: Path) -> None:
    target = tmp_path / "model"
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    workers = [context.Process(target=_save_repeatedly, args=(str(target), i, errors)) for i in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0] * 8
    assert errors.empty(), errors.get()
    assert load_bundle(target).metrics["attempt"] == 4  # the last save of one of them, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no .model.new-*, .model.old or lock left


def _folder_with_user_files(root: Path) -> Path:
    folder = root / "data"
    (folder / "images").mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    (folder / "images" / "a.png").write_bytes(b"png")
    return folder


@pytest.mark.parametrize("force", [False, True])
def test_a_folder_that_is_not_a_bundle_is_never_replaced(tmp_path: Path, force: bool) -> None:
    folder = _folder_with_user_files(tmp_path)
    message = (r"refusing to replace .*data: it is not a polymodal bundle \(it has no polymodal\.json\) and holds "
               r"images/, notes\.txt; polymodal replaces only folders it wrote")
    with pytest.raises(BundleError, match=message):
        check_writable_bundle_path(folder, "supervised", force=force)
    with pytest.raises(BundleError, match=message):
        save_bundle(folder, _contents(), force=force)
    assert (folder / "notes.txt").read_text() == "mine" and (folder / "images" / "a.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_an_empty_folder_and_a_bundle_of_the_same_kind_are_replaced(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    save_bundle(tmp_path / "b", _contents())
    contents = _contents()
    contents.metrics = {"acc": 0.9}
    save_bundle(tmp_path / "b", contents)
    assert load_bundle(tmp_path / "b").metrics == {"acc": 0.9}


def test_another_kind_damaged_or_annotated_bundle_needs_force(tmp_path: Path) -> None:
    target = tmp_path / "b"
    other = _contents()
    other.kind = "pretrained"
    save_bundle(target, other)
    with pytest.raises(BundleError, match=r"refusing to replace .*b: it holds a 'pretrained' model, and this saves a "
                                          r"'supervised' one; choose another --out, or pass --force"):
        save_bundle(target, _contents())
    save_bundle(target, _contents(), force=True)
    assert load_bundle(target).kind == "supervised"
    (target / "README.md").write_text("my notes")
    with pytest.raises(BundleError, match=r"the bundle also holds files polymodal did not write \(README\.md\)"):
        save_bundle(target, _contents())
    (target / "README.md").unlink()
    (target / "polymodal.json").write_text("{")
    with pytest.raises(BundleError, match=r"its polymodal\.json is damaged, so it may not be a polymodal bundle"):
        save_bundle(target, _contents())
    save_bundle(target, _contents(), force=True)
    assert load_bundle(target).kind == "supervised"


@pytest.mark.parametrize("force", [False, True])
def test_the_current_folder_its_parents_and_inputs_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               force: bool) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for out in (".", ".."):
        with pytest.raises(BundleError, match=rf"refusing to save the model to {re.escape(out)}: it is the current "
                                              r"folder or a parent of it"):
            check_writable_bundle_path(out, "supervised", force=force)
    table = tmp_path / "t" / "sub" / "table.csv"
    table.parent.mkdir(parents=True)
    table.write_text("x\n1\n")
    for out in (table.parent, table.parent.parent):
        with pytest.raises(BundleError, match=rf"it holds {re.escape(str(table))}, an input of this run"):
            check_writable_bundle_path(out, "supervised", force=force, inputs=[table])
    with pytest.raises(BundleError, match=r"table\.csv: it is a file, and a bundle is a folder"):
        check_writable_bundle_path(table, "supervised", force=force)
    (tmp_path / "link").symlink_to(table.parent)
    with pytest.raises(BundleError, match=r"link: it is a symbolic link \(to .*sub\); give the folder itself"):
        check_writable_bundle_path(tmp_path / "link", "supervised", force=force)
    assert table.read_text() == "x\n1\n"


def test_a_truncated_weights_file_names_the_file(tmp_path: Path) -> None:
    save_bundle(tmp_path / "b", _contents())
    weights = tmp_path / "b" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-5])
    with pytest.raises(BundleError, match=r"b/model\.safetensors is damaged: it ends after 19 of its 24 bytes of "
                                          r"tensors \(the file is truncated\); the bundle is damaged: save"):
        load_bundle(tmp_path / "b")
    weights.write_bytes(b"\x01\x00")
    with pytest.raises(BundleError, match=r"model\.safetensors is damaged: it holds 2 byte\(s\), fewer than the 8"):
        load_bundle(tmp_path / "b")
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(BundleError, match=r"model\.safetensors is damaged: its header is not JSON"):
        load_bundle(tmp_path / "b")


@pytest.mark.parametrize("protocol", [0, 1])
def test_refuses_a_text_protocol_pickle_renamed_to_safetensors(tmp_path: Path, protocol: int) -> None:
    save_bundle(tmp_path / "b", _contents())
    (tmp_path / "b" / "model.safetensors").write_bytes(pickle.dumps({"w": [0.0]}, protocol=protocol))
    with pytest.raises(BundleError, match=r"refusing to load .*model\.safetensors: it is a pickle-based file"):
        load_bundle(tmp_path / "b")


def test_a_valid_header_that_starts_like_a_pickle_is_loaded(tmp_path: Path) -> None:
    # a header of 640 bytes begins with b"\x80\x02", the magic of a protocol 2 pickle
    name = next(n for n in range(1, 700) if _header_length({"w" * n: torch.zeros(1)}, tmp_path) == 640)
    contents = _contents()
    contents.weights = {"w" * name: torch.ones(1)}
    save_bundle(tmp_path / "b", contents)
    assert (tmp_path / "b" / "model.safetensors").read_bytes()[:2] == b"\x80\x02"
    assert torch.equal(load_bundle(tmp_path / "b").weights["w" * name], torch.ones(1))


def _header_length(tensors: dict[str, torch.Tensor], folder: Path) -> int:
    save_file(tensors, str(folder / "probe.safetensors"))
    return int.from_bytes((folder / "probe.safetensors").read_bytes()[:8], "little")


def test_refuses_a_symbolic_link_inside_a_bundle(tmp_path: Path) -> None:
    save_bundle(tmp_path / "b", _contents())
    save_bundle(tmp_path / "other", _contents())
    (tmp_path / "b" / "model.safetensors").unlink()
    (tmp_path / "b" / "model.safetensors").symlink_to(tmp_path / "other" / "model.safetensors")
    with pytest.raises(BundleError, match=r"refusing to load .*b: model\.safetensors is a symbolic link \(to "
                                          r".*other/model\.safetensors\); a bundle holds its own files only"):
        load_bundle(tmp_path / "b")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_refuses_weights_that_are_not_finite(tmp_path: Path, value: float) -> None:
    contents = _contents()
    contents.weights["w"][1, 2] = value
    save_bundle(tmp_path / "b", contents)
    with pytest.raises(BundleError, match=r"refusing to load .*model\.safetensors: tensor 'w' holds NaN or infinite "
                                          r"values"):
        load_bundle(tmp_path / "b")


def test_a_wrong_shape_in_model_json_names_the_files(tmp_path: Path, tabular_csv: Path) -> None:
    import json

    import polymodal

    bundle = tmp_path / "m"
    polymodal.fit(tabular_csv, target="label", epochs=1, progress=False, out=bundle)
    spec = json.loads((bundle / "model.json").read_text())
    spec["targets"]["label"][1] = 7  # the head's size, against the 3 classes in the weights
    (bundle / "model.json").write_text(json.dumps(spec))
    with pytest.raises(BundleError, match=r"the weights in .*m/model\.safetensors do not fit the model described by "
                                          r".*m/model\.json: Error\(s\) in loading state_dict"):
        polymodal.load(bundle)
    del spec["input_info"]
    (bundle / "model.json").write_text(json.dumps(spec))
    with pytest.raises(BundleError, match=r"m/model\.json does not describe a model this polymodal can build "
                                          r"\(KeyError: 'input_info'\)"):
        polymodal.load(bundle)


def test_a_bundle_respects_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    previous = os.umask(0o022)
    try:
        save_bundle(tmp_path / "b", _contents())
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "b").iterdir()} == {0o644}
