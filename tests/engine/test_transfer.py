"""Transfer from a bundle: encoders (model level) and trunk (task level), frozen or fine-tuned."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import polymodal
from polymodal.config import FitConfig
from polymodal.data.module import table_schema
from polymodal.data.pipeline import DataPipeline
from polymodal.data.table import read_table
from polymodal.data.validation import load_table
from polymodal.datasets import make_synthetic_table
from polymodal.engine.pretrain import pretrain
from polymodal.engine.transfer import TransferSource
from polymodal.models.builder import build_model

FAST: dict[str, Any] = {"epochs": 2, "batch_size": 64, "progress": False}


@pytest.fixture(scope="module")
def two_targets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 rows: a ``tabular`` modality, a vector modality ``embedding``; targets ``label`` and ``parity``."""
    path = make_synthetic_table(tmp_path_factory.mktemp("transfer"), n_rows=200, kinds=("numeric", "vector"))
    frame = pd.read_csv(path)
    frame["parity"] = (frame["num_a"] > frame["num_a"].median()).astype(int)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def contrastive(two_targets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("contrastive") / "bundle"
    pretrain(two_targets, "contrastive", ignore=["label", "parity"], objective_args={"projection_dim": 8},
             encoder_args={"vector": {"output_dim": 12}}, out=out, **FAST)
    return out


@pytest.fixture(scope="module")
def supervised(two_targets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("supervised") / "bundle"
    polymodal.fit(two_targets, target="label", ignore=["parity"], fusion="gated", fusion_args={"output_dim": 16},
                  out=out, **FAST)
    return out


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_initialised_encoders_equal_the_source_and_reuse_its_preprocessing(contrastive: Path,
                                                                            two_targets: Path) -> None:
    source = TransferSource.load(contrastive)
    config = FitConfig.model_validate({"data": {"targets": ["label"], "ignore": ["parity"]}})
    tbl = read_table(two_targets)
    schema = table_schema(tbl.frame, config.data, supervised=True)
    model_config = source.resolve(config.model, schema)
    assert model_config.encoders == {"embedding": "vector-mlp", "tabular": "tabular-mlp"}
    assert model_config.encoder_args["embedding"] == {"output_dim": 12}  # the source's kind-level argument
    loaded = load_table(tbl, schema)
    pipeline = DataPipeline(schema, fitted=source.preprocessors).fit(loaded, np.arange(50))
    assert all(pipeline.preprocessors[m] is source.preprocessors[m] for m in ("embedding", "tabular"))
    model = build_model(model_config, pipeline.input_info(), {m.name: m.kind for m in schema.modalities},
                        {"label": ("multiclass", 3)})
    report = source.initialise(model)
    pre = polymodal.load_pretrained(contrastive)
    for name in ("embedding", "tabular"):
        assert _same(_state(model.encoders[name]), _state(pre.model.encoders[name]))
    assert report["initialised"] == ["encoders.embedding", "encoders.tabular"] and report["frozen"] == []


def test_frozen_encoders_do_not_change_and_the_bundle_is_self_contained(contrastive: Path, two_targets: Path,
                                                                         tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(contrastive, source)
    before = {n: _state(e) for n, e in polymodal.load_pretrained(source).model.encoders.items()}
    predictor = polymodal.fit(two_targets, target="label", ignore=["parity"], init_from=str(source), freeze=True,
                              out=tmp_path / "fit", **FAST)
    assert predictor.metrics["transfer"]["frozen"] == ["encoders.embedding", "encoders.tabular"]
    model = predictor.model
    assert all(_same(_state(model.encoders[n]), state) for n, state in before.items())
    assert not any(p.requires_grad for p in model.encoders.parameters())
    model.train()
    assert not any(m.training for e in model.encoders.values() for m in e.modules()) and model.heads.training
    shutil.rmtree(source)  # loading the new bundle never needs the source
    loaded = polymodal.load(tmp_path / "fit")
    assert np.allclose(loaded.predict_proba(two_targets), predictor.predict_proba(two_targets), atol=1e-6)


def test_without_freeze_the_transferred_encoders_train(contrastive: Path, two_targets: Path) -> None:
    before = _state(polymodal.load_pretrained(contrastive).model.encoders["tabular"])
    predictor = polymodal.fit(two_targets, target="label", ignore=["parity"], init_from=str(contrastive), **FAST)
    assert predictor.metrics["transfer"]["frozen"] == []
    assert not _same(_state(predictor.model.encoders["tabular"]), before)


def test_every_tower_of_a_multi_tower_model_starts_from_the_source(contrastive: Path, two_targets: Path) -> None:
    source = _state(polymodal.load_pretrained(contrastive).model.encoders)
    predictor = polymodal.fit(two_targets, target=["label", "parity"], sharing="soft", init_from=str(contrastive),
                              freeze=True, **FAST)
    towers = predictor.model.towers
    assert list(towers) == ["label", "parity"]
    assert all(_same(_state(tower.encoders), source) for tower in towers.values())


def test_trunk_transfer_reuses_the_fusion_under_new_heads(supervised: Path, two_targets: Path) -> None:
    source = polymodal.load(supervised)
    predictor = polymodal.fit(two_targets, target="parity", ignore=["label"], init_from=str(supervised),
                              transfer="trunk", freeze=True, **FAST)
    assert predictor.config.model.fusion == "gated" and predictor.config.model.fusion_args == {"output_dim": 16}
    assert predictor.metrics["transfer"]["initialised"][-1] == "fusions.shared"
    assert _same(_state(predictor.model.fusions["shared"]), _state(source.model.fusions["shared"]))
    assert _same(_state(predictor.model.encoders), _state(source.model.encoders))
    assert list(predictor.model.heads) == ["parity"] and predictor.model.heads.training is False  # eval after fit
    assert "accuracy" in predictor.metrics["validation"]["parity"]


@pytest.fixture(scope="module")
def tabular_only(two_targets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tabular") / "bundle"
    polymodal.fit(two_targets, target="label", ignore=["parity", "embedding"], out=out, **FAST)
    return out


def test_modalities_the_source_lacks_start_fresh(two_targets: Path, tabular_only: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="polymodal.engine.transfer"):
        predictor = polymodal.fit(two_targets, target="label", ignore=["parity"], init_from=str(tabular_only),
                                  **FAST)
    assert predictor.metrics["transfer"]["fresh"] == ["embedding"]
    assert "modalities ['embedding'] are not in the source; their encoders start fresh" in caplog.text


def test_a_modality_missing_from_the_table_is_an_error(contrastive: Path, two_targets: Path) -> None:
    with pytest.raises(ValueError, match=r"modality 'embedding' \(vector\) of the source is not in the table"):
        polymodal.fit(two_targets, target="label", ignore=["parity", "embedding"], init_from=str(contrastive), **FAST)


def test_a_modality_of_another_kind_is_an_error(contrastive: Path, two_targets: Path) -> None:
    with pytest.raises(ValueError, match="modality 'embedding' is text in the table but vector in the source"):
        polymodal.fit(two_targets, target="label", ignore=["parity"], modalities={"embedding": "text"},
                      init_from=str(contrastive), **FAST)


def test_a_different_encoder_for_a_transferred_modality_is_an_error(contrastive: Path, two_targets: Path) -> None:
    with pytest.raises(ValueError, match="modality 'tabular': the encoder 'vector-mlp' asked for differs"):
        polymodal.fit(two_targets, target="label", ignore=["parity"], encoders={"tabular": "vector-mlp"},
                      init_from=str(contrastive), **FAST)


@pytest.mark.parametrize(("options", "message"), [
    ({"freeze": True}, "freeze and transfer='trunk' act on transferred weights: give init_from"),
    ({"transfer": "trunk"}, "freeze and transfer='trunk' act on transferred weights: give init_from"),
    ({"init_from": "CONTRASTIVE", "transfer": "trunk"}, "transfer='trunk' needs a supervised bundle with a shared "
                                                        "fusion; .*a pretrain bundle has no fusion trunk"),
    ({"init_from": "CONTRASTIVE", "fusion": "early"}, "the fusion 'early' feeds raw inputs"),
    ({"init_from": "TABULAR", "transfer": "trunk"},
     r"the fusion of .* reads \['tabular'\], but the table also has \['embedding'\]"),
    ({"init_from": "SUPERVISED", "ignore": []},
     r"modality 'tabular' has columns \['num_a', 'num_b', 'parity'\] in the table but \['num_a', 'num_b'\] in"),
    ({"init_from": "MISSING"}, "no bundle at"),
])
def test_bad_transfer_options(options: dict[str, Any], message: str, contrastive: Path, supervised: Path,
                              tabular_only: Path, two_targets: Path, tmp_path: Path) -> None:
    paths = {"CONTRASTIVE": str(contrastive), "SUPERVISED": str(supervised), "TABULAR": str(tabular_only),
             "MISSING": str(tmp_path / "none")}
    options = {"ignore": ["parity"], **options}
    if "init_from" in options:
        options["init_from"] = paths[options["init_from"]]
    with pytest.raises(Exception, match=message):
        polymodal.fit(two_targets, target="label", **options, **FAST)


def test_pretrain_can_start_from_a_bundle(contrastive: Path, two_targets: Path, tmp_path: Path) -> None:
    before = _state(polymodal.load_pretrained(contrastive).model.encoders)
    pre = pretrain(two_targets, "dcca", ignore=["label", "parity"], objective_args={"latent_dim": 4},
                   init_from=str(contrastive), freeze=True, out=tmp_path / "dcca", **FAST)
    assert _same(_state(pre.model.encoders), before)
    assert pre.metrics["transfer"]["source_kind"] == "pretrained"
    with pytest.raises(ValueError, match="freeze acts on transferred encoders: give init_from"):
        pretrain(two_targets, "dcca", ignore=["label", "parity"], freeze=True, **FAST)
