"""`predict` / `embed --engine ray` on a local Ray cluster of 2 CPUs equal the local engine row for row
(matched by the ``row`` column each output row carries).

The table (images with paths relative to the table's folder, text, numbers, a category, an id) is
written as 4 Parquet shards; the cluster is started once for the module (its start-up is the cost).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import polymodal
from polymodal.cli import main
from polymodal.datasets import make_synthetic_table
from polymodal.engine.ray_inference import _replaceable, read_rows, row_chunks

SHARDS, ROWS = 4, 60


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason='the ray engine needs the extra: pip install "polymodal[ray]"')
    pytest.importorskip("ray.data", reason='the ray engine needs Ray Data: pip install "polymodal[ray]"')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The table's folder, holding 4 Parquet shards beside images/ (the media paths are relative), and the table."""
    folder = tmp_path_factory.mktemp("sharded")
    csv = make_synthetic_table(folder, n_rows=ROWS, kinds=("image", "text", "numeric", "categorical"))
    frame = pd.read_csv(csv)
    frame.insert(0, "id", [f"r{i:03d}" for i in range(ROWS)])
    csv.unlink()
    frame.to_csv(csv, index=False)
    for i, part in enumerate(np.array_split(np.arange(ROWS), SHARDS)):
        frame.iloc[part].to_parquet(folder / f"shard-{i}.parquet", index=False)
    return folder, frame


@pytest.fixture(scope="module")
def bundles(sharded: tuple[Path, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder, _ = sharded
    out = tmp_path_factory.mktemp("bundles")
    csv = folder / "synthetic.csv"
    polymodal.fit(csv, target="label", ignore=["id"], epochs=1, preset="none", baseline=False, progress=False,
                  out=out / "model")
    polymodal.pretrain(csv, "autoencoder", ignore=["id", "label"], epochs=1, progress=False, out=out / "rep")
    return {"model": out / "model", "rep": out / "rep"}


def test_predict_on_ray_equals_local_predict_row_for_row(ray_cluster, sharded, bundles, tmp_path: Path,
                                                         capsys) -> None:
    folder, frame = sharded
    out = tmp_path / "predictions"
    code = main(["predict", str(bundles["model"]), str(folder), "--out", str(out), "--engine", "ray",
                 "--workers", "2", "--keep", "id", "--batch-rows", "8"])  # 8 chunks (4 shards of 15 rows) for 2 actors
    assert code == 0, capsys.readouterr().err
    assert f"{ROWS} prediction(s) written to" in capsys.readouterr().out
    ray_out = pd.read_parquet(out).sort_values("row", ignore_index=True)  # the shards are in no order
    local = polymodal.load(bundles["model"]).predict(folder / "synthetic.csv")
    assert list(ray_out["row"]) == list(range(ROWS))
    assert list(ray_out["id"]) == list(frame["id"])  # row = the position in the shards in path order
    assert list(ray_out.columns) == ["row", "id", *[c for c in local.columns if c != "row"]]
    assert list(ray_out["label"]) == list(local["label"])
    probabilities = [c for c in local.columns if c.startswith("label_proba_")]
    np.testing.assert_allclose(ray_out[probabilities].to_numpy(), local[probabilities].to_numpy(), rtol=1e-5,
                               atol=1e-6)
    marker = json.loads((out / "_polymodal.json").read_text())
    assert marker["rows"] == ROWS and marker["task"] == "predict"
    assert sorted(p.name for p in out.glob("*.parquet")) == marker["shards"]
    _replaceable(out)  # a second run may replace the folder (the marker says it wrote it)


def test_embed_on_ray_equals_local_embed(ray_cluster, sharded, bundles, tmp_path: Path, capsys) -> None:
    folder, frame = sharded
    out = tmp_path / "embeddings"
    code = main(["embed", str(bundles["rep"]), str(folder / "*.parquet"), "--out", str(out), "--engine", "ray",
                 "--keep", "id", "--from", "image"])
    assert code == 0, capsys.readouterr().err
    ray_out = pd.read_parquet(out).sort_values("row", ignore_index=True)
    local = polymodal.load_pretrained(bundles["rep"]).embed(folder / "synthetic.csv", modalities=["image"])
    assert list(ray_out["id"]) == list(frame["id"]) and list(ray_out["row"]) == list(range(ROWS))
    assert list(ray_out.columns[2:]) == [f"z{i}" for i in range(local.shape[1])]
    np.testing.assert_allclose(ray_out.iloc[:, 2:].to_numpy(), local, rtol=1e-5, atol=1e-6)


def test_bad_ray_options_fail_before_any_work(sharded, bundles, tmp_path: Path, capsys) -> None:
    pytest.importorskip("ray.data", reason='the ray engine needs the extra: pip install "polymodal[ray]"')
    folder, _ = sharded
    model = str(bundles["model"])
    cases = [
        (["--keep", "uid"], "--keep uid: no such column in"),
        (["--keep", "label"], "--keep label: the predict output has a column of that name already"),
        (["--workers", "0"], "--workers must be at least 1, got 0"),
    ]
    for extra, message in cases:
        assert main(["predict", model, str(folder), "--out", str(tmp_path / "p"), "--engine", "ray", *extra]) == 2
        assert message in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["predict", model, str(folder), "--out", str(tmp_path / "mine"), "--engine", "ray"]) == 2
    assert "is a folder that holds other files (it was not written by --engine ray)" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert main(["predict", model, str(folder / "synthetic.csv"), "--out", str(tmp_path / "p"), "--engine",
                 "ray"]) == 2
    assert "--engine ray reads Parquet shards" in capsys.readouterr().err
    assert main(["predict", model, str(folder), "--out", str(tmp_path / "p.csv"), "--keep", "id"]) == 2
    assert "--keep is an option of --engine ray; add --engine ray, or leave them out" in capsys.readouterr().err


def test_chunks_cover_every_row_once_and_read_only_their_rows(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"x": np.arange(25)})
    frame.iloc[:10].to_parquet(tmp_path / "a.parquet", row_group_size=4)
    frame.iloc[10:].to_parquet(tmp_path / "b.parquet", row_group_size=6)
    chunks = row_chunks([str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")], rows=7)
    assert [(Path(c["path"]).name, c["start"], c["stop"], c["offset"]) for c in chunks] == [
        ("a.parquet", 0, 7, 0), ("a.parquet", 7, 10, 0), ("b.parquet", 0, 7, 10), ("b.parquet", 7, 14, 10),
        ("b.parquet", 14, 15, 10)]
    rows = [read_rows(c["path"], c["start"], c["stop"])["x"].tolist() for c in chunks]
    assert [x for part in rows for x in part] == list(range(25))


def test_without_ray_the_error_names_the_extra(sharded, bundles, tmp_path: Path, monkeypatch, capsys) -> None:
    folder, _ = sharded
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    assert main(["predict", str(bundles["model"]), str(folder), "--out", str(tmp_path / "p"), "--engine",
                 "ray"]) == 2
    assert 'the ray engine needs Ray Data, which is not installed: pip install "polymodal[ray]"' in \
        capsys.readouterr().err
