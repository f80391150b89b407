"""A learned multimodal representation with its data pipeline: embed tables, save, load."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polymodal._version import __version__
from polymodal.config import PretrainConfig
from polymodal.data.dataset import EncodedData
from polymodal.data.kinds import ModalityKind
from polymodal.data.module import TableDataModule, TableLike
from polymodal.data.pipeline import DataPipeline
from polymodal.errors import BundleError
from polymodal.models.objectives import build_representation_model
from polymodal.models.representation import RepresentationModel
from polymodal.storage.bundle import BundleContents, load_bundle, load_weights, reading_part, save_bundle

BUNDLE_KIND = "pretrained"


class PretrainedModel:
    """A representation model trained by :func:`polymodal.engine.pretrain.pretrain`.

    Example
    -------
    >>> pre = pretrain("table.csv", "contrastive", out="encoder/")  # doctest: +SKIP
    >>> PretrainedModel.load("encoder/").embed("table.csv").shape    # doctest: +SKIP
    (1797, 32)
    """

    def __init__(self, config: PretrainConfig, pipeline: DataPipeline, model: RepresentationModel,
                 metrics: Mapping[str, Any] | None = None) -> None:
        self.config = config
        self.pipeline = pipeline
        self.model = model.eval()
        self.metrics: dict[str, Any] = dict(metrics or {})
        self.history: list[dict[str, Any]] = []
        self.data = TableDataModule.from_pipeline(pipeline, config.data)  # encodes new tables as in training

    @property
    def embedding_dim(self) -> int:
        return int(self.model.embedding_dim)

    def encode_table(self, table: TableLike, on_error: str | None = None) -> EncodedData:
        """The table's rows loaded and preprocessed as the model was trained (no targets needed)."""
        return self.data.encode(table, with_targets=False, on_error=on_error)

    @torch.no_grad()
    def embed(self, table: TableLike | EncodedData, batch_size: int = 256, on_error: str | None = None,
              modalities: Sequence[str] | None = None) -> np.ndarray:
        """The representation of every row ``[N, embedding_dim]`` (float32), in table order; rows with a
        missing modality are embedded from the modalities they have. ``modalities`` embeds from those
        modalities only (the others are treated as missing), e.g. one modality for retrieval."""
        data = table if isinstance(table, EncodedData) else self.encode_table(table, on_error)
        if modalities is not None:
            unknown = sorted(set(modalities) - set(data.masks))
            if unknown:
                raise ValueError(f"unknown modalities {unknown}; the model's modalities: {sorted(data.masks)}")
            data = data.with_masks({m: v if m in modalities else torch.zeros_like(v) for m, v in data.masks.items()})
        self.model.eval()
        parts = [self.model.embed(part.inputs, part.masks).float() for part in
                 (data.subset(np.arange(s, min(s + batch_size, len(data)))) for s in range(0, len(data), batch_size))]
        return torch.cat(parts).numpy() if parts else np.zeros((0, self.embedding_dim), dtype=np.float32)

    def save(self, path: str | Path, force: bool = False) -> Path:
        """Write a bundle of kind ``"pretrained"`` (JSON, safetensors and NPZ; no pickle). An existing
        folder is replaced as by :meth:`polymodal.predictor.Predictor.save`."""
        state, arrays = self.pipeline.get_state()
        return save_bundle(path, BundleContents(
            kind=BUNDLE_KIND, config=self.config.model_dump(mode="json"), model=self.model_spec(),
            weights=dict(self.model.state_dict()), pipeline_state=state, pipeline_arrays=arrays, metrics=self.metrics,
            polymodal_version=__version__,
        ), force=force)

    def model_spec(self) -> dict[str, Any]:
        return {
            "objective": self.config.model.objective,
            "input_info": self.pipeline.input_info(),
            "kinds": {m.name: m.kind.value for m in self.pipeline.schema.modalities},
            "embedding_dim": self.embedding_dim,
        }

    @classmethod
    def load(cls, path: str | Path) -> PretrainedModel:
        """Rebuild a saved representation model; refuses pickles and bundles of another kind."""
        contents = load_bundle(path)
        if contents.kind != BUNDLE_KIND:
            raise BundleError(f"{path} holds a {contents.kind!r} model, not a pretrained representation "
                              f"(made by `polymodal pretrain`)")
        with reading_part(path, "config.json"):
            config = PretrainConfig.model_validate(contents.config)
        with reading_part(path, "pipeline.json"):
            pipeline = DataPipeline.from_state(contents.pipeline_state, contents.pipeline_arrays)
        spec = contents.model
        with reading_part(path, "model.json"):
            model = build_representation_model(
                config.model.objective, spec["input_info"], {k: ModalityKind(v) for k, v in spec["kinds"].items()},
                config.model.encoders, config.model.encoder_args, config.model.objective_args, config.model.augment,
            )
        load_weights(model, contents.weights, path)
        return cls(config, pipeline, model, contents.metrics)
