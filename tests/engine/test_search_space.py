"""The search space of tune: what the base config fixes is never searched, and a user's overrides apply."""

from __future__ import annotations

import pytest

from polymodal.config import FitConfig, with_options
from polymodal.engine.presets import resolve_preset
from polymodal.engine.search_space import (
    DEFAULT_SPACE,
    Choice,
    Range,
    apply_params,
    parse_search,
    resolve_space,
    width_modalities,
)

KINDS = {"img": "image", "snd": "audio"}


def test_what_the_base_config_sets_is_not_searched() -> None:
    config = with_options(FitConfig(), {"fusion": "low_rank", "lr": 0.01, "batch_size": 32})
    space = resolve_space(config, KINDS)
    assert not {"fusion", "lr", "batch_size"} & set(space)
    assert {"weight_decay", "dropout", "modality_dropout", "head_hidden"} <= set(space)
    # only the arguments of the fixed fusion are searched
    assert {n for n in space if "." in n} == {"low_rank.output_dim", "low_rank.rank"}
    given_args = with_options(config, {"fusion_args": {"rank": 2}})
    assert not any("." in n for n in resolve_space(given_args, KINDS))


def test_search_flags_narrow_widen_and_turn_off_dimensions() -> None:
    search = parse_search(["fusion=concat,late", "lr=1e-4:3e-3", "dropout=off", "patience=5,10", "epochs=2:6"])
    assert search == {"fusion": Choice(("concat", "late")), "lr": Range(1e-4, 3e-3, log=True), "dropout": None,
                      "patience": Choice((5, 10)), "epochs": Range(2, 6)}
    space = resolve_space(FitConfig(), KINDS, search)
    assert space["fusion"] == Choice(("concat", "late")) and "dropout" not in space
    assert space["lr"].log and space["epochs"].integer and space["patience"] == Choice((5, 10))
    assert not any("." in n for n in space)  # neither concat nor late takes arguments


@pytest.mark.parametrize(("flag", "message"), [
    ("colour=red", r"--search colour: not a searchable option; give FUSION.ARG \(e.g. low_rank.rank\) or one of: "),
    ("low_rank.size=2,4", r"--search low_rank.size: the fusion 'low_rank' has no argument 'size'; its arguments: "
                          r"output_dim, rank"),
    ("lr=0.1:0.01", r"--search lr: a range needs two numbers LOW < HIGH, got 0.1 and 0.01"),
    ("lr=0:0.01", r"--search lr: a log-scale range needs LOW > 0, got 0"),
    ("lr", r"--search takes NAME=VALUES \(e.g. fusion=concat,late"),
    ("fusion=concat,nope", r"unknown fusion 'nope'; known fusions: concat, "),
])
def test_bad_search_flags_say_what_is_wrong(flag: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_space(FitConfig(), KINDS, parse_search([flag]))


def test_searching_an_option_the_config_fixes_is_an_error() -> None:
    config = with_options(FitConfig(), {"lr": 0.01})
    with pytest.raises(ValueError, match=r"--search lr: the base config fixes lr \(a flag or a key of --config\); "
                                         r"give either the value or the search range, not both"):
        resolve_space(config, KINDS, {"lr": (1e-4, 1e-2)})


def test_encoder_width_leaves_alone_an_image_encoder_a_preset_chooses() -> None:
    assert width_modalities(FitConfig(), KINDS) == ["snd"]
    named = with_options(FitConfig(), {"encoders": {"image": "image-cnn"}})
    assert width_modalities(named, KINDS) == ["img", "snd"]
    assert width_modalities(with_options(FitConfig(), {"preset": "none"}), KINDS) == ["img", "snd"]
    given = with_options(FitConfig(), {"encoder_args": {"snd": {"base_channels": 8}}})
    assert width_modalities(given, KINDS) == []
    assert "encoder_width" not in resolve_space(given, KINDS)
    assert "encoder_width" in DEFAULT_SPACE


def test_a_trial_s_values_win_over_the_preset() -> None:
    params = {"fusion": "low_rank", "low_rank.rank": 8, "lr": 0.02, "weight_decay": 0.003, "encoder_width": 64,
              "batch_size": 32}
    config = apply_params(FitConfig(), params, KINDS)
    assert config.model.fusion == "low_rank" and config.model.fusion_args == {"rank": 8}
    assert config.model.encoder_args == {"snd": {"output_dim": 64}}
    info = {"img": {"kind": "image", "height": 8, "width": 8}, "snd": {"kind": "audio"}}
    resolved, _ = resolve_preset(config, info, 1000)
    train = resolved.train
    assert (train.lr, train.weight_decay, train.batch_size) == (0.02, 0.003, 32)
    assert train.patience == 15 and resolved.model.encoders["img"] == "image-mlp"  # the preset fills the rest
