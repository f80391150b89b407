"""Assemble a :class:`FusionModel` from a model config and the fitted data pipeline's sizes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from polymodal.augment import Augmenter, input_kinds
from polymodal.config import ModelConfig
from polymodal.data.kinds import ModalityKind
from polymodal.encoders import DEFAULT_ENCODERS, ENCODERS, build_encoder
from polymodal.encoders.base import Encoder
from polymodal.fusion import FUSIONS
from polymodal.fusion.base import TASK_ACTIVATION, Fusion
from polymodal.models.ensemble import EnsembleModel
from polymodal.models.multitower import MultiTowerModel
from polymodal.models.supervised import FusionModel, mlp_head


def _lookup(table: Mapping[str, Any], name: str, kind: ModalityKind, default: Any) -> Any:
    return table.get(name, table.get(kind.value, default))


def build_encoders(
    config: ModelConfig, input_info: Mapping[str, dict[str, Any]], kinds: Mapping[str, ModalityKind], raw: bool
) -> dict[str, Encoder]:
    encoders = {}
    for name, info in input_info.items():
        kind = kinds[name]
        if raw:
            encoders[name] = build_encoder("raw", {**info, "kind": kind.value})
            continue
        encoder_name, args = encoder_choice(config.encoders, config.encoder_args, name, kind)
        ENCODERS.get(encoder_name)  # unknown names fail here, listing the known ones
        encoders[name] = build_encoder(encoder_name, info, **args)
    return encoders


def encoder_choice(encoders: Mapping[str, str], encoder_args: Mapping[str, Mapping[str, Any]], name: str,
                   kind: ModalityKind) -> tuple[str, dict[str, Any]]:
    """The encoder name and arguments for modality ``name``: its own entry, else its kind's, else the default."""
    return (str(_lookup(encoders, name, kind, DEFAULT_ENCODERS[kind])),
            dict(_lookup(encoder_args, name, kind, {})))


def build_model(
    config: ModelConfig,
    input_info: Mapping[str, dict[str, Any]],
    kinds: Mapping[str, ModalityKind],
    targets: Mapping[str, tuple[str, int]],
) -> FusionModel | MultiTowerModel | EnsembleModel:
    """``targets`` maps each target to ``(task, number of outputs)``.

    ``config.ensemble`` gives an :class:`EnsembleModel` of one model per member (built in order).

    ``config.sharing`` "hard" (or a single target) gives one :class:`FusionModel` with a head per target;
    "soft" and "cross-stitch" give a :class:`MultiTowerModel` with one tower per target, every tower
    starting from the same weights (the first tower's) wherever shapes agree.
    """
    if config.ensemble:
        if len(config.ensemble) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(config.ensemble)}")
        members = {str(i): build_model(config.member(m), input_info, kinds, targets)
                   for i, m in enumerate(config.ensemble)}
        return EnsembleModel(members, targets)
    if config.sharing == "hard":
        return build_tower(config, input_info, kinds, targets)
    towers = {name: build_tower(config, input_info, kinds, {name: spec}) for name, spec in targets.items()}
    first = next(iter(towers.values())).state_dict()
    for tower in list(towers.values())[1:]:
        with torch.no_grad():
            for key, value in tower.state_dict().items():
                source = _same_place(key, first, next(iter(tower.heads)))
                if source is not None and source.shape == value.shape:
                    value.copy_(source)
    return MultiTowerModel(towers, sharing=config.sharing, sharing_weight=config.sharing_weight,
                           stitch_init=config.stitch_init)


def _same_place(key: str, state: Mapping[str, torch.Tensor], target: str) -> torch.Tensor | None:
    """The entry of the first tower's ``state`` at the place ``key`` has in another tower (whose late
    fusion and head are named after its own ``target``); None for heads, which stay as initialised."""
    if key.startswith("heads."):
        return None
    if key.startswith(f"fusions.{target}."):
        rest = key[len(f"fusions.{target}."):]
        return next((v for k, v in state.items() if k.startswith("fusions.") and k.split(".", 2)[2] == rest), None)
    return state.get(key)


def build_tower(
    config: ModelConfig,
    input_info: Mapping[str, dict[str, Any]],
    kinds: Mapping[str, ModalityKind],
    targets: Mapping[str, tuple[str, int]],
) -> FusionModel:
    """Encoders, fusion and a head per target (hard parameter sharing)."""
    entry = FUSIONS.get(config.fusion)
    fusion_cls: Any = entry.factory
    reserved = sorted(set(config.fusion_args) & {"input_dims", "num_outputs", "activation"})
    if reserved:
        settable = [p for p in entry.parameters() if p not in ("input_dims", "num_outputs", "activation")]
        raise ValueError(f"fusion argument(s) {', '.join(reserved)} of {config.fusion!r} are set from the data and "
                         f"targets; arguments you can set: {', '.join(settable) or 'none'}")
    encoders = build_encoders(config, input_info, kinds, raw=bool(getattr(fusion_cls, "raw_inputs", False)))
    dims = {name: enc.output_dim for name, enc in encoders.items()}
    fusions: dict[str, Fusion] = {}
    heads: dict[str, nn.Module] = {}
    if getattr(fusion_cls, "produces_predictions", False):
        for target, (task, n_out) in targets.items():
            fusions[target] = FUSIONS.create(
                config.fusion, input_dims=dims, num_outputs=n_out, activation=TASK_ACTIVATION[task],
                **config.fusion_args,
            )
            heads[target] = nn.Identity()
    else:
        shared = FUSIONS.create(config.fusion, input_dims=dims, **config.fusion_args)
        fusions["shared"] = shared
        for target, (_task, n_out) in targets.items():
            heads[target] = mlp_head(shared.output_dim, n_out, config.head_hidden, config.dropout)
    model = FusionModel(encoders, fusions, heads, modality_dropout=config.modality_dropout)
    model.augment = Augmenter.from_spec(config.augment, kinds, input_kinds(input_info, kinds))
    return model
