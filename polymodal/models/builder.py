"""Assemble a :class:`FusionModel` from a model config and the fitted data pipeline's sizes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from polymodal.config import ModelConfig
from polymodal.data.kinds import ModalityKind
from polymodal.encoders import DEFAULT_ENCODERS, ENCODERS, build_encoder
from polymodal.encoders.base import Encoder
from polymodal.fusion import FUSIONS
from polymodal.fusion.base import Fusion
from polymodal.models.supervised import FusionModel, mlp_head

ACTIVATION = {"multiclass": "softmax", "binary": "sigmoid", "multilabel": "sigmoid", "regression": "identity"}


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
        encoder_name = _lookup(config.encoders, name, kind, DEFAULT_ENCODERS[kind])
        ENCODERS.get(encoder_name)  # unknown names fail here, listing the known ones
        args = dict(_lookup(config.encoder_args, name, kind, {}))
        encoders[name] = build_encoder(encoder_name, info, **args)
    return encoders


def build_model(
    config: ModelConfig,
    input_info: Mapping[str, dict[str, Any]],
    kinds: Mapping[str, ModalityKind],
    targets: Mapping[str, tuple[str, int]],
) -> FusionModel:
    """``targets`` maps each target to ``(task, number of outputs)``."""
    entry = FUSIONS.get(config.fusion)
    fusion_cls: Any = entry.factory
    encoders = build_encoders(config, input_info, kinds, raw=bool(getattr(fusion_cls, "raw_inputs", False)))
    dims = {name: enc.output_dim for name, enc in encoders.items()}
    fusions: dict[str, Fusion] = {}
    heads: dict[str, nn.Module] = {}
    if getattr(fusion_cls, "produces_predictions", False):
        for target, (task, n_out) in targets.items():
            fusions[target] = FUSIONS.create(
                config.fusion, input_dims=dims, num_outputs=n_out, activation=ACTIVATION[task], **config.fusion_args
            )
            heads[target] = nn.Identity()
    else:
        shared = FUSIONS.create(config.fusion, input_dims=dims, **config.fusion_args)
        fusions["shared"] = shared
        for target, (_task, n_out) in targets.items():
            heads[target] = mlp_head(shared.output_dim, n_out, config.head_hidden, config.dropout)
    return FusionModel(encoders, fusions, heads, modality_dropout=config.modality_dropout)
