"""The representation-learning objectives by name, and how a model is built for one.

Every factory in :data:`OBJECTIVES` takes ``encoders`` (one per modality, built from the fitted
pipeline) and ``input_info`` (the pipeline's sizes, for decoders), plus its own keyword arguments.

Example
-------
>>> from polymodal.encoders import build_encoder
>>> info = {"a": {"kind": "vector", "dim": 3}, "b": {"kind": "vector", "dim": 2}}
>>> encoders = {n: build_encoder("vector-mlp", i, output_dim=4) for n, i in info.items()}
>>> OBJECTIVES.create("contrastive", encoders=encoders, input_info=info, projection_dim=8).embedding_dim
8
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polymodal.augment import Augmenter, input_kinds
from polymodal.config import ModelConfig
from polymodal.data.kinds import ModalityKind
from polymodal.models.autoencoder import MultimodalAutoencoder
from polymodal.models.builder import build_encoders
from polymodal.models.contrastive import ContrastiveModel
from polymodal.models.dcca import DCCAModel
from polymodal.models.dccae import DCCAEModel
from polymodal.models.projection import ProjectionModel
from polymodal.models.representation import RepresentationModel
from polymodal.models.vae import MultimodalVAE
from polymodal.registry import Registry

OBJECTIVES: Registry[RepresentationModel] = Registry("objective")
OBJECTIVES.register("contrastive", "CLIP-style symmetric InfoNCE between every pair of modalities")(ContrastiveModel)
OBJECTIVES.register("dcca", "deep CCA: maximise the canonical correlations of two views")(DCCAModel)
OBJECTIVES.register("dccae", "deep CCA plus a reconstruction of each view (DCCAE)")(DCCAEModel)
OBJECTIVES.register("autoencoder", "fused latent reconstructing every modality, trained on random subsets")(
    MultimodalAutoencoder
)
OBJECTIVES.register("vae", "multimodal VAE with a product, mixture or mixture-of-products posterior")(MultimodalVAE)
OBJECTIVES.register("projection", "map one modality into another's frozen (pretrained) embedding space")(
    ProjectionModel
)


def build_representation_model(
    objective: str,
    input_info: Mapping[str, dict[str, Any]],
    kinds: Mapping[str, ModalityKind],
    encoders: Mapping[str, str] | None = None,
    encoder_args: Mapping[str, Mapping[str, Any]] | None = None,
    objective_args: Mapping[str, Any] | None = None,
    augment: Mapping[str, Any] | None = None,
) -> RepresentationModel:
    """Encoders as in supervised models (per modality or kind: a name and arguments), then ``objective``'s model,
    with the training augmentations ``augment`` describes (see :mod:`polymodal.augment`).

    An unknown objective or an argument it does not take is an error listing the valid ones.
    """
    entry = OBJECTIVES.get(objective)
    reserved = sorted(set(objective_args or {}) & {"encoders", "input_info"})
    if reserved:
        settable = [p for p in entry.parameters() if p not in ("encoders", "input_info")]
        raise ValueError(f"objective argument(s) {', '.join(reserved)} are set from the data; arguments of "
                         f"{objective!r}: {', '.join(settable)}")
    config = ModelConfig(encoders=dict(encoders or {}),
                         encoder_args={k: dict(v) for k, v in (encoder_args or {}).items()})
    built = build_encoders(config, input_info, kinds, raw=False)
    model = OBJECTIVES.create(objective, encoders=built, input_info=input_info, **dict(objective_args or {}))
    model.augment = Augmenter.from_spec(dict(augment or {}), kinds, input_kinds(input_info, kinds))
    return model
