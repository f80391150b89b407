"""The fitted data pipeline: per-modality preprocessors and target encoders, saved with the model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from polymodal.data.dataset import EncodedData
from polymodal.data.kinds import ModalityKind
from polymodal.data.loading import MAX_IMAGE_PIXELS
from polymodal.data.preprocessing import ImagePreprocessor, Preprocessor, build_preprocessor, preprocessor_from_state
from polymodal.data.preprocessing.base import FileLookup
from polymodal.data.schema import Schema, TaskKind
from polymodal.data.targets import TargetEncoder
from polymodal.data.validation import LoadedTable
from polymodal.errors import DataError


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

    def image_pixel_limits(self) -> dict[str, int]:
        """Per image column, the most pixels its files may declare (the ``max_image_pixels`` image option),
        for :func:`~polymodal.data.validation.load_table`."""
        out: dict[str, int] = {}
        for spec in self.schema.modalities:
            if spec.kind is not ModalityKind.IMAGE:
                continue
            pre = self.preprocessors.get(spec.name)
            limit = (pre.max_image_pixels if isinstance(pre, ImagePreprocessor)
                     else self._options(spec.name, spec.kind.value).get("max_image_pixels", MAX_IMAGE_PIXELS))
            out.update({column: limit for column in spec.columns})
        return out

    def drop_unseen_labels(self, loaded: LoadedTable) -> LoadedTable:
        """``loaded`` without the rows whose targets hold labels the fitted encoders never saw (what
        ``--on-error skip`` does with them): each is reported and counted in ``loaded.report.dropped_rows``."""
        unseen = np.zeros(len(loaded.rows), dtype=bool)
        for column, encoder in self.targets.items():
            values = loaded.targets[column]
            bad = encoder.unseen(values)
            if bad.any():
                loaded.report.problems.extend(encoder.unseen_problems(values[bad], loaded.rows[bad]))
                unseen |= bad
        if not unseen.any():
            return loaded
        keep = np.flatnonzero(~unseen)
        if len(keep) == 0:
            raise DataError("no usable row left: every row holds a label the model never saw in training",
                            loaded.report.errors)
        loaded.report.dropped_rows = sorted({*loaded.report.dropped_rows, *loaded.rows[unseen].tolist()})
        return LoadedTable({name: frame.iloc[keep].reset_index(drop=True) for name, frame in loaded.modalities.items()},
                           loaded.targets.iloc[keep].reset_index(drop=True), loaded.rows[keep], loaded.report)

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
