"""Presets fill only what the user left unset, choose encoders from the inputs, and resolve once."""

from __future__ import annotations

import json

import pytest

from polymodal.config import FitConfig, with_options
from polymodal.engine.presets import resolve_preset

TINY = {"img": {"kind": "image", "channels": 1, "height": 8, "width": 8}, "v": {"kind": "vector", "dim": 3}}
LARGE = {"img": {"kind": "image", "channels": 3, "height": 32, "width": 32}}


def test_medium_fills_the_unset_options_and_picks_an_mlp_for_tiny_images() -> None:
    config, chosen = resolve_preset(with_options(FitConfig(), {"lr": 0.01, "targets": ["y"]}), TINY, 1000)
    train = config.train
    assert (train.epochs, train.patience, train.lr_schedule, train.weight_decay, train.batch_size) == (
        100, 15, "cosine", 0.05, 64)
    assert train.lr == 0.01 and "lr" not in chosen["chosen"]["train"]  # the user's value wins
    assert config.model.encoders == {"img": "image-mlp"} and config.model.augment == {"img": ["noise"]}
    assert config.model.encoder_args["img"] == {"hidden_dim": 512, "dropout": 0.5}
    assert chosen["tiny_images"] == ["img"] and chosen["name"] == "medium"
    # label smoothing, and a weight average over about 5 epochs of steps (1000 rows in 16 batches: 1 - 1 / 80)
    assert train.label_smoothing == 0.1 and train.ema_decay == 0.99
    assert chosen["chosen"]["train"]["ema_decay"] == 0.99


def test_the_weight_average_decay_follows_the_steps_per_epoch_and_the_users_value_wins() -> None:
    config, _ = resolve_preset(FitConfig(), TINY, 40000)  # batch 128: 313 steps an epoch, 1 - 1 / 1565
    assert config.train.ema_decay == pytest.approx(1 - 1 / 1565, abs=1e-6)
    given, chosen = resolve_preset(with_options(FitConfig(), {"ema_decay": 0.9, "label_smoothing": 0.0}), TINY, 40000)
    assert (given.train.ema_decay, given.train.label_smoothing) == (0.9, 0.0)
    assert "ema_decay" not in chosen["chosen"]["train"] and "label_smoothing" not in chosen["chosen"]["train"]
    fast, _ = resolve_preset(with_options(FitConfig(), {"preset": "fast"}), TINY, 1000)
    assert fast.train.ema_decay is None and fast.train.label_smoothing == 0.0


def test_encoders_the_user_named_or_configured_are_kept() -> None:
    for options in ({"encoders": {"image": "image-cnn"}}, {"encoder_args": {"img": {"base_channels": 8}}}):
        config, chosen = resolve_preset(with_options(FitConfig(), options), TINY, 1000)
        assert "image-mlp" not in config.model.encoders.values() and chosen["tiny_images"] == []
    config, _ = resolve_preset(FitConfig(), LARGE, 1000)
    assert config.model.encoders == {}  # a CNN (the default) for 32x32 images


def test_fast_none_and_the_batch_size_by_rows() -> None:
    fast, _ = resolve_preset(with_options(FitConfig(), {"preset": "fast"}), LARGE, 100000)
    assert (fast.train.epochs, fast.train.patience, fast.train.batch_size) == (20, 5, 256)
    plain, chosen = resolve_preset(with_options(FitConfig(), {"preset": "none"}), TINY, 1000)
    assert plain == with_options(FitConfig(), {"preset": "none"}) and chosen["chosen"] == {}
    with pytest.raises(ValueError, match="preset"):
        with_options(FitConfig(), {"preset": "best-ever"})


@pytest.mark.parametrize("preset", ["fast", "medium", "best"])
def test_a_saved_resolved_config_resolves_to_itself(tmp_path, preset: str) -> None:
    """What ``fit --config bundle/config.json`` does: every value is set, the preset has nothing to choose."""
    resolved, _ = resolve_preset(with_options(FitConfig(), {"preset": preset}), TINY, 1000)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(resolved.model_dump(mode="json")))
    again, chosen = resolve_preset(FitConfig.from_file(path), TINY, 50000)
    assert again == resolved and chosen["chosen"] == {"train": {}}


def test_best_adds_an_ensemble_of_fusions_or_of_seeds() -> None:
    config, chosen = resolve_preset(with_options(FitConfig(), {"preset": "best"}), TINY, 1000)
    assert [(m.fusion, m.seed) for m in config.model.ensemble] == [("concat", 0), ("late", 0),
                                                                    ("concat", 1)]
    assert config.train.patience == 15 and chosen["chosen"]["model"]["ensemble"][1] == {"fusion": "late"}
    # the user's fusion (or a single modality) makes an ensemble of seeds of that fusion
    config, _ = resolve_preset(with_options(FitConfig(), {"preset": "best", "fusion": "gated"}), TINY, 1000)
    assert [(m.fusion, m.seed) for m in config.model.ensemble] == [(None, 0), (None, 1), (None, 2)]
    assert {config.model.member(m).fusion for m in config.model.ensemble} == {"gated"}
    # transferred weights initialise one model: no ensemble
    config, _ = resolve_preset(with_options(FitConfig(), {"preset": "best", "init_from": "b"}), TINY, 1000)
    assert config.model.ensemble == []


def test_fit_config_of_the_bundle_repeats_a_medium_run_exactly(tmp_path, tabular_csv) -> None:
    import numpy as np

    import polymodal
    from polymodal.cli import main

    first = polymodal.fit(str(tabular_csv), target="label", epochs=2, progress=False, baseline=False,
                          out=tmp_path / "a")
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    assert saved["train"]["preset"] == "medium" and saved["train"]["lr_schedule"] == "cosine"
    assert main(["fit", str(tabular_csv), "--config", str(tmp_path / "a" / "config.json"), "--out",
                 str(tmp_path / "b")]) == 0
    again = polymodal.load(tmp_path / "b")
    assert json.loads((tmp_path / "b" / "config.json").read_text()) == saved
    np.testing.assert_array_equal(again.predict_proba(str(tabular_csv)), first.predict_proba(str(tabular_csv)))


def test_small_images_get_a_narrower_cnn() -> None:
    mnist = {"img": {"kind": "image", "channels": 1, "height": 28, "width": 28}}
    config, chosen = resolve_preset(FitConfig(), mnist, 2000)
    assert config.model.encoders == {} and config.model.encoder_args == {"img": {"base_channels": 16}}
    assert chosen["small_images"] == ["img"]
    config, chosen = resolve_preset(FitConfig(), {"img": {**mnist["img"], "height": 64, "width": 64}}, 2000)
    assert config.model.encoder_args == {} and chosen["small_images"] == []
    kept, _ = resolve_preset(with_options(FitConfig(), {"encoder_args": {"image": {"base_channels": 64}}}), mnist, 10)
    assert kept.model.encoder_args == {"image": {"base_channels": 64}}
