"""A trained multimodal model with its data pipeline: predict, evaluate, embed, save, load."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from polymodal._version import __version__
from polymodal.config import FitConfig
from polymodal.data.dataset import EncodedData
from polymodal.data.kinds import ModalityKind
from polymodal.data.module import TableDataModule, TableLike
from polymodal.data.pipeline import DataPipeline
from polymodal.data.schema import ROW_COLUMN, TaskKind
from polymodal.data.validation import LoadedTable, ValidationReport
from polymodal.errors import BundleError
from polymodal.evaluation.metrics import build_metrics, update_metrics
from polymodal.models import PredictiveModel
from polymodal.models.builder import build_model
from polymodal.storage.bundle import BundleContents, load_bundle, load_weights, reading_part, save_bundle


class Predictor:
    """A fitted model. Made by :func:`polymodal.fit` or :func:`polymodal.load`.

    Example
    -------
    >>> predictor = polymodal.fit("table.csv", target="label")  # doctest: +SKIP
    >>> predictor.predict("new_rows.csv")                        # doctest: +SKIP
    """

    def __init__(self, config: FitConfig, pipeline: DataPipeline, model: PredictiveModel,
                 metrics: Mapping[str, Any] | None = None) -> None:
        self.config = config
        self.pipeline = pipeline
        self.model = model.eval()
        self.metrics: dict[str, Any] = dict(metrics or {})
        self.last_report: ValidationReport | None = None
        self.history: list[dict[str, Any]] = []
        self.global_rank = 0  # the process's rank in multi-process training; only rank 0 saves and reports
        self.data = TableDataModule.from_pipeline(pipeline, config.data)  # encodes new tables as in training

    @property
    def targets(self) -> list[str]:
        return list(self.pipeline.targets)

    # -- data ---------------------------------------------------------------------------------
    def load_cells(self, table: TableLike, with_targets: bool = True, on_error: str | None = None,
                   data_root: str | Path | None = None, strict_columns: bool = False) -> LoadedTable:
        """The raw loaded cells of ``table`` under the model's schema, before preprocessing (what
        :mod:`polymodal.evaluation.corruptions` acts on); :meth:`evaluate_loaded` scores them.

        ``data_root`` replaces the data root the model was trained with (file paths outside it are refused).
        A modality whose columns the table lacks entirely is missing in every row (with a warning), unless
        ``strict_columns``: then the absent columns are an error.
        """
        loaded = self.data.load(table, with_targets, on_error, data_root, strict_columns)
        self.last_report = loaded.report
        return loaded

    def _load(self, table: TableLike, with_targets: bool, on_error: str | None,
              data_root: str | Path | None = None, strict_columns: bool = False) -> tuple[LoadedTable, EncodedData]:
        loaded = self.load_cells(table, with_targets, on_error, data_root, strict_columns)
        return loaded, self.pipeline.transform(loaded, with_targets=with_targets)

    @torch.no_grad()
    def logits(self, data: EncodedData, batch_size: int = 256) -> dict[str, Tensor]:
        """Model outputs for encoded data, batched, in eval mode."""
        self.model.eval()
        outs: dict[str, list[Tensor]] = {t: [] for t in self.targets}
        for start in range(0, len(data), batch_size):
            part = data.subset(np.arange(start, min(start + batch_size, len(data))))
            for name, value in self.model(part.inputs, part.masks).items():
                outs[name].append(value.float())
        return {k: torch.cat(v) if v else torch.empty(0) for k, v in outs.items()}

    # -- public API ---------------------------------------------------------------------------
    def predict(self, table: TableLike, on_error: str | None = None,
                data_root: str | Path | None = None, strict_columns: bool = False) -> pd.DataFrame:
        """Predicted label (or value) and class probabilities per row, in input order.

        Rows with a missing modality are still predicted. With ``on_error="skip"`` unreadable cells
        count as missing modalities; the report is in ``last_report``. ``data_root`` replaces the model's
        (file paths of ``table`` outside it are refused). A modality whose columns are all absent is missing
        in every row (with a warning) unless ``strict_columns``.
        """
        loaded, data = self._load(table, with_targets=False, on_error=on_error, data_root=data_root,
                                  strict_columns=strict_columns)
        return self.predictions(loaded.rows, self.logits(data))

    def predictions(self, rows: np.ndarray, logits: Mapping[str, Tensor]) -> pd.DataFrame:
        """The table :meth:`predict` returns, from the model outputs ``logits`` of the rows ``rows`` (positions in
        the user's table): the row, each target's prediction and its class probabilities."""
        out = pd.DataFrame(index=pd.RangeIndex(len(rows)))
        out.insert(0, ROW_COLUMN, rows)
        for name, encoder in self.pipeline.targets.items():
            preds, probs = encoder.decode(logits[name])
            out[name] = list(preds)
            if probs is not None:
                for j, cls in enumerate(encoder.classes_):
                    out[f"{name}_proba_{cls}"] = probs[:, j]
        return out

    def predict_proba(self, table: TableLike, target: str | None = None) -> np.ndarray:
        """Class probabilities ``[N, n_classes]`` of ``target`` (the first target by default)."""
        name = target or self.targets[0]
        encoder = self.pipeline.targets[name]
        if encoder.task is TaskKind.REGRESSION:
            raise ValueError(f"target {name!r} is a regression target: it has no class probabilities")
        _, data = self._load(table, with_targets=False, on_error=None)
        _, probs = encoder.decode(self.logits(data)[name])
        return np.asarray(probs)

    def evaluate(self, table: TableLike, on_error: str | None = None, data_root: str | Path | None = None,
                 strict_columns: bool = False) -> dict[str, dict[str, float]]:
        """Metrics per target on a labelled table (``{target: {metric: value}}``); ``data_root`` and
        ``strict_columns`` as in :meth:`predict`."""
        _, data = self._load(table, with_targets=True, on_error=on_error, data_root=data_root,
                             strict_columns=strict_columns)
        return self.evaluate_encoded(data)

    def evaluate_loaded(self, loaded: LoadedTable) -> dict[str, dict[str, float]]:
        """Metrics per target on loaded cells (e.g. corrupted ones), preprocessed by the fitted pipeline."""
        return self.evaluate_encoded(self.pipeline.transform(loaded, with_targets=True))

    def evaluate_encoded(self, data: EncodedData) -> dict[str, dict[str, float]]:
        return self.score(self.logits(data), data.targets)

    def evaluate_chunks(self, chunks: Iterable[EncodedData],
                        observe: Callable[[EncodedData, dict[str, Tensor]], None] | None = None,
                        ) -> dict[str, dict[str, float]]:
        """Metrics per target accumulated over encoded chunks (the same values as one pass over all their
        rows); ``{}`` when there is no row. ``observe(data, logits)`` sees each chunk's outputs."""
        metrics = {n: build_metrics(e.task, max(len(e.classes_), 1)) for n, e in self.pipeline.targets.items()}
        seen = False
        for data in chunks:
            logits = self.logits(data)
            self._update(metrics, logits, data.targets)
            if observe is not None:
                observe(data, logits)
            seen = True
        return {n: {k: float(v) for k, v in m.compute().items()} for n, m in metrics.items()} if seen else {}

    def score(self, logits: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> dict[str, dict[str, float]]:
        """Metrics per target of model outputs ``logits`` against encoded ``targets`` (original units)."""
        metrics = {n: build_metrics(e.task, max(len(e.classes_), 1)) for n, e in self.pipeline.targets.items()}
        self._update(metrics, logits, targets)
        return {n: {k: float(v) for k, v in m.compute().items()} for n, m in metrics.items()}

    def _update(self, metrics: Mapping[str, Any], logits: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> None:
        for name, encoder in self.pipeline.targets.items():  # over the rows that hold each target's label
            scale = (encoder.mean_, encoder.std_) if encoder.task is TaskKind.REGRESSION else None
            update_metrics(metrics[name], encoder.task, logits[name], targets[name], scale)

    @torch.no_grad()
    def embed(self, table: TableLike) -> np.ndarray:
        """The joint representation of every row ``[N, D]`` (the fusion's output)."""
        _, data = self._load(table, with_targets=False, on_error=None)
        self.model.eval()
        parts = [self.model.embed(p.inputs, p.masks) for p in
                 (data.subset(np.arange(s, min(s + 256, len(data)))) for s in range(0, len(data), 256))]
        return torch.cat(parts).numpy()

    # -- persistence --------------------------------------------------------------------------
    def model_spec(self) -> dict[str, Any]:
        return {
            "input_info": self.pipeline.input_info(),
            "kinds": {m.name: m.kind.value for m in self.pipeline.schema.modalities},
            "targets": {n: [e.task.value, e.num_outputs] for n, e in self.pipeline.targets.items()},
        }

    def save(self, path: str | Path, force: bool = False) -> Path:
        """Write the bundle folder atomically; :func:`polymodal.load` reads it back.

        An existing folder at ``path`` is replaced only when it is a polymodal bundle of the same kind;
        ``force=True`` also replaces another kind of bundle or a damaged one (never a folder that is not
        a bundle; see :func:`~polymodal.storage.bundle.check_writable_bundle_path`)."""
        state, arrays = self.pipeline.get_state()
        return save_bundle(path, BundleContents(
            kind="supervised", config=self.config.model_dump(mode="json"), model=self.model_spec(),
            weights=dict(self.model.state_dict()), pipeline_state=state, pipeline_arrays=arrays,
            metrics=self.metrics, polymodal_version=__version__,
        ), force=force)

    @classmethod
    def load(cls, path: str | Path) -> Predictor:
        contents = load_bundle(path)
        if contents.kind != "supervised":
            raise BundleError(f"{path} holds a {contents.kind!r} model, not a supervised predictor")
        with reading_part(path, "config.json"):
            config = FitConfig.model_validate(contents.config)
        with reading_part(path, "pipeline.json"):
            pipeline = DataPipeline.from_state(contents.pipeline_state, contents.pipeline_arrays)
        spec = contents.model
        with reading_part(path, "model.json"):
            model = build_model(
                config.model, spec["input_info"], {k: ModalityKind(v) for k, v in spec["kinds"].items()},
                {n: (t, int(k)) for n, (t, k) in spec["targets"].items()},
            )
        load_weights(model, contents.weights, path)
        return cls(config, pipeline, model, contents.metrics)
