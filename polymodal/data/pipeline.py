"""The fitted data pipeline: per-modality preprocessors and target encoders, saved with the model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from polymodal.data.dataset import EncodedData
from polymodal.data.preprocessing import Preprocessor, build_preprocessor, preprocessor_from_state
from polymodal.data.preprocessing.base import FileLookup
from polymodal.data.schema import Schema, TaskKind
from polymodal.data.targets import TargetEncoder
from polymodal.data.validation import LoadedTable


class DataPipeline:
    """Turns loaded tables into tensors.

    Preprocessors are fitted on the training rows only. ``preprocess`` holds options per modality
    name or per kind (``{"image": {"image_size": 32}}``); a modality's own entry wins.
    """

    def __init__(self, schema: Schema, preprocess: Mapping[str, Mapping[str, Any]] | None = None,
                 fitted: Mapping[str, Preprocessor] | None = None) -> None:
        self.schema = schema
        self.preprocess = {k: dict(v) for k, v in (preprocess or {}).items()}
        # preprocessors fitted elsewhere (those of a bundle whose encoders are transferred: its weights only make
        # sense on the same inputs), used as they are: fit leaves them alone
        self.fitted = dict(fitted or {})
        self.preprocessors: dict[str, Preprocessor] = dict(self.fitted)
        self.targets: dict[str, TargetEncoder] = {}

    def _options(self, name: str, kind: str) -> dict[str, Any]:
        return {**self.preprocess.get(kind, {}), **self.preprocess.get(name, {})}

    def fit(self, loaded: LoadedTable, train_index: np.ndarray) -> DataPipeline:
        """Fit on the rows ``train_index`` of ``loaded`` (positions in the loaded table); the preprocessors
        given as ``fitted`` are kept as they are."""
        first = self.schema.targets[0].column if self.schema.targets else None
        target = None
        if first is not None and self.schema.targets[0].task is not TaskKind.MULTILABEL:
            target = loaded.targets[first].iloc[train_index].to_numpy()
        for spec in self.schema.modalities:
            if spec.name in self.fitted:
                self.preprocessors[spec.name] = self.fitted[spec.name]
                continue
            pre = build_preprocessor(spec.kind, spec.columns, spec.column_kinds,
                                     **self._options(spec.name, spec.kind.value))
            pre.fit(loaded.modalities[spec.name].iloc[train_index].reset_index(drop=True), target)
            self.preprocessors[spec.name] = pre
        for spec_t in self.schema.targets:
            self.targets[spec_t.column] = TargetEncoder(spec_t).fit(loaded.targets[spec_t.column].iloc[train_index])
        return self

    def file_lookups(self) -> dict[str, FileLookup]:
        """Per column, how :func:`~polymodal.data.validation.load_table` loads the media files of the
        modalities whose preprocessor asks for it (see :meth:`Preprocessor.file_lookup`): a fitted
        pipeline asks its preprocessors, an unfitted one the preprocessors its options describe."""
        out: dict[str, FileLookup] = {}
        for spec in self.schema.modalities:
            pre = self.preprocessors.get(spec.name)
            if pre is None:
                pre = build_preprocessor(spec.kind, spec.columns, spec.column_kinds,
                                         **self._options(spec.name, spec.kind.value))
            lookup = pre.file_lookup()
            if lookup is not None:
                out.update({column: lookup for column in spec.columns})
        return out

    def transform(self, loaded: LoadedTable, with_targets: bool = True) -> EncodedData:
        if not self.preprocessors:
            raise RuntimeError("the data pipeline is not fitted; call fit first")
        inputs, masks = {}, {}
        for name, pre in self.preprocessors.items():
            frame = loaded.modalities[name]
            inputs[name] = pre.transform(frame)
            masks[name] = torch.from_numpy(np.asarray(pre.present(frame), dtype=bool))
        targets = {}
        if with_targets:
            for column, encoder in self.targets.items():
                targets[column] = encoder.transform(loaded.targets[column], loaded.rows)
        return EncodedData(inputs, masks, targets, loaded.rows)

    def input_info(self) -> dict[str, dict[str, Any]]:
        return {name: pre.input_info() for name, pre in self.preprocessors.items()}

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state: dict[str, Any] = {"schema": self.schema.to_dict(), "preprocess": self.preprocess,
                                 "preprocessors": {}, "targets": {}}
        arrays: dict[str, np.ndarray] = {}
        for name, pre in self.preprocessors.items():
            pre_state, pre_arrays = pre.get_state()
            state["preprocessors"][name] = pre_state
            arrays.update({f"{name}/{key}": value for key, value in pre_arrays.items()})
        state["targets"] = {c: enc.get_state() for c, enc in self.targets.items()}
        return state, arrays

    @classmethod
    def from_state(cls, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> DataPipeline:
        pipeline = cls(Schema.from_dict(state["schema"]), state.get("preprocess"))
        for name, pre_state in state["preprocessors"].items():
            prefix = f"{name}/"
            own = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            pipeline.preprocessors[name] = preprocessor_from_state(pre_state, own)
        pipeline.targets = {c: TargetEncoder.from_state(s) for c, s in state["targets"].items()}
        return pipeline
