"""Predictions with an exported ONNX graph (onnxruntime) after polymodal's own preprocessing.

The rows go through the bundle's data path as in :meth:`Predictor.predict <polymodal.predictor.Predictor.predict>`
(loading, validation, the fitted pipeline); the graph of :mod:`~polymodal.serving.onnx_export` replaces the
torch model; its ``logits:T`` outputs are decoded by the same target encoders, so the table written is the one
``polymodal predict`` writes with torch (probabilities equal to within the export's checked tolerance).

Example
-------
>>> runner = OnnxRunner("model.onnx", polymodal.load("model/"))     # doctest: +SKIP
>>> predict_onnx(polymodal.load("model/"), "new.csv", "model.onnx")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from polymodal.data.dataset import EncodedData
from polymodal.serving.onnx_export import (
    FINGERPRINT_KEY,
    SIDECAR_FORMAT,
    ExportError,
    input_name,
    mask_name,
    model_fingerprint,
    output_names,
    sidecar_path,
)

if TYPE_CHECKING:
    from polymodal.predictor import Predictor, TableLike


class OnnxRunner:
    """An onnxruntime session over an exported graph, checked against the bundle it must serve.

    ``threads`` sets onnxruntime's intra-op threads (None: its default).
    """

    def __init__(self, path: str | Path, predictor: Predictor, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX file {self.path} not found (write it with `polymodal export BUNDLE "
                                    f"--format onnx --out {self.path}`)")
        self.predictor = predictor
        self.modalities = sorted(predictor.pipeline.input_info())
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ExportError(f"{self.path} is not a readable ONNX model: {str(exc).splitlines()[0]}") from exc
        self._check_matches()

    def _check_matches(self) -> None:
        """The graph must have this bundle's inputs and outputs (an ONNX file of another model is an error)."""
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        wanted_in = {input_name(m) for m in self.modalities} | {mask_name(m) for m in self.modalities}
        wanted_out = {output_names(t, e.task)[0] for t, e in self.predictor.pipeline.targets.items()}
        missing = sorted((wanted_out - outputs) | (inputs - wanted_in))
        if missing:
            sidecar = sidecar_path(self.path)
            note = ""
            if sidecar.is_file():
                meta = json.loads(sidecar.read_text())
                if meta.get("format") == SIDECAR_FORMAT:
                    note = f" (its sidecar lists {', '.join(i['name'] for i in meta.get('inputs', []))})"
            raise ExportError(f"{self.path} was not exported from this bundle: the graph lacks or adds "
                              f"{', '.join(missing)}{note}; export it again with `polymodal export`")
        self.feeds = sorted(inputs)
        stamped = self.session.get_modelmeta().custom_metadata_map.get(FINGERPRINT_KEY)
        if stamped is None:
            raise ExportError(f"{self.path} was not written by `polymodal export` (its metadata has no "
                              f"{FINGERPRINT_KEY}); export the bundle with `polymodal export`")
        if stamped != model_fingerprint(self.predictor.model):
            raise ExportError(f"{self.path} was exported from another model than this bundle's (the weights "
                              "differ); export this bundle with `polymodal export` and use that file")

    def logits(self, data: EncodedData, batch_size: int = 256) -> dict[str, Tensor]:
        """The graph's logits per target for encoded data (as :meth:`Predictor.logits` gives torch's)."""
        targets = {t: output_names(t, e.task)[0] for t, e in self.predictor.pipeline.targets.items()}
        outs: dict[str, list[np.ndarray]] = {t: [] for t in targets}
        for start in range(0, len(data), batch_size):
            part = data.subset(np.arange(start, min(start + batch_size, len(data))))
            feed: dict[str, Any] = {}
            for m in self.modalities:
                feed[input_name(m)] = part.inputs[m].numpy()
                feed[mask_name(m)] = part.masks[m].bool().numpy()
            results = self.session.run(list(targets.values()), {k: v for k, v in feed.items() if k in self.feeds})
            for target, value in zip(targets, results, strict=True):
                outs[target].append(value)
        return {t: torch.from_numpy(np.concatenate(v)) if v else torch.empty(0) for t, v in outs.items()}


def predict_onnx(predictor: Predictor, table: TableLike, onnx_path: str | Path, *, on_error: str | None = None,
                 data_root: str | Path | None = None, strict_columns: bool = False,
                 threads: int | None = None) -> pd.DataFrame:
    """The table of :meth:`Predictor.predict`, computed by the ONNX graph ``onnx_path`` exported from
    ``predictor`` (same options)."""
    runner = OnnxRunner(onnx_path, predictor, threads=threads)
    loaded = predictor.load_cells(table, with_targets=False, on_error=on_error, data_root=data_root,
                                  strict_columns=strict_columns)
    data = predictor.pipeline.transform(loaded, with_targets=False)
    return predictor.predictions(loaded.rows, runner.logits(data))
