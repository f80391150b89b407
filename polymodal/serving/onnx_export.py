"""Export a trained model to ONNX: preprocessed tensors and presence masks in, per-target outputs out.

The graph (``torch.onnx.export``, the TorchScript-based exporter, opset :data:`OPSET`) takes, per modality
``M`` (in sorted order), the preprocessed batch tensor ``input:M`` (what the encoder receives:
:meth:`DataPipeline.transform <polymodal.data.pipeline.DataPipeline.transform>`) and the boolean presence
mask ``mask:M`` ``[B]``. Its outputs, per target ``T``:

- ``logits:T``: the model's raw outputs, which :meth:`TargetEncoder.decode
  <polymodal.data.targets.TargetEncoder.decode>` turns into the predictions of ``polymodal predict``
  (``polymodal predict --runtime onnx`` does exactly that, so both runtimes write the same table);
- ``proba:T`` for classification: the class probabilities (softmax; for a binary target ``[1 - p, p]``,
  for multilabel one sigmoid per label), or ``value:T`` for regression: the prediction in the target's units.

Every axis 0 is the dynamic batch axis. The export is checked with onnxruntime before the file is put in
place: on a synthetic batch built from the pipeline's ``input_info`` (every modality missing in some rows)
and, when given, on the rows of a table; the largest absolute difference of probabilities (of values for
regression, in standardised units) must stay below :data:`TOLERANCE`. A sidecar ``<file>.json`` describes
the inputs and outputs (names, dtypes, shapes, classes) and the check.

Example
-------
>>> result = export_onnx(polymodal.load("model/"), "model.onnx", check_table="test.csv")  # doctest: +SKIP
>>> result.max_abs_diff                                                                   # doctest: +SKIP
3.1e-07
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from polymodal._version import __version__
from polymodal.data.dataset import EncodedData
from polymodal.data.schema import TaskKind
from polymodal.errors import PolymodalError
from polymodal.storage.atomic import atomic_write_json

if TYPE_CHECKING:
    from polymodal.data.targets import TargetEncoder
    from polymodal.predictor import Predictor, TableLike

OPSET = 17
TOLERANCE = 1e-4
SIDECAR_FORMAT = "polymodal-onnx"
SIDECAR_VERSION = 1


class ExportError(PolymodalError):
    """A part of the model cannot be exported to ONNX, or the exported graph does not reproduce it."""


def input_name(modality: str) -> str:
    return f"input:{modality}"


def mask_name(modality: str) -> str:
    return f"mask:{modality}"


def output_names(target: str, task: TaskKind) -> tuple[str, str]:
    """The graph's two outputs of ``target``: its logits, and its probabilities (or value for regression)."""
    return f"logits:{target}", f"{'value' if task is TaskKind.REGRESSION else 'proba'}:{target}"


FINGERPRINT_KEY = "polymodal_model_sha256"


def model_fingerprint(model: nn.Module) -> str:
    """A digest of the model's weights and buffers (names, shapes, values): stored in the exported graph's
    metadata, so that running the graph with another bundle's preprocessing is refused."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.view(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()


def _stamp(path: Path, fingerprint: str) -> None:
    import onnx

    graph = onnx.load(str(path))
    entry = graph.metadata_props.add()
    entry.key, entry.value = FINGERPRINT_KEY, fingerprint
    onnx.save(graph, str(path))


def sidecar_path(onnx_path: str | Path) -> Path:
    """The JSON file describing an exported graph: ``model.onnx`` -> ``model.onnx.json``."""
    path = Path(onnx_path)
    return path.with_name(path.name + ".json")


def probabilities(encoder: TargetEncoder, logits: Tensor) -> Tensor:
    """What the graph's second output of a target holds, computed from its logits (see the module doc)."""
    if encoder.task is TaskKind.REGRESSION:
        return logits * encoder.std_ + encoder.mean_
    if encoder.task is TaskKind.BINARY:
        p1 = torch.sigmoid(logits)
        return torch.cat([1 - p1, p1], dim=-1)
    if encoder.task is TaskKind.MULTILABEL:
        return torch.sigmoid(logits)
    return torch.softmax(logits, dim=-1)


class ExportedGraph(nn.Module):
    """The model as a function of positional tensors: every modality's input, then every mask; returns each
    target's logits and probabilities (or value), in the order of ``targets``."""

    def __init__(self, model: nn.Module, modalities: list[str], targets: Mapping[str, TargetEncoder]) -> None:
        super().__init__()
        self.model, self.modalities, self.encoders = model, modalities, dict(targets)

    def forward(self, *tensors: Tensor) -> tuple[Tensor, ...]:
        n = len(self.modalities)
        inputs = dict(zip(self.modalities, tensors[:n], strict=True))
        masks = dict(zip(self.modalities, tensors[n:], strict=True))
        logits = self.model(inputs, masks)
        outs: list[Tensor] = []
        for name, encoder in self.encoders.items():
            outs += [logits[name], probabilities(encoder, logits[name])]
        return tuple(outs)


def synthetic_batch(input_info: Mapping[str, Mapping[str, Any]], n: int = 16, seed: int = 0) -> EncodedData:
    """``n`` rows of random inputs shaped as the pipeline's ``input_info`` describes, every modality present
    in the first row and each one missing in some of the others (the export check's batch)."""
    g = torch.Generator().manual_seed(seed)
    inputs = {name: _random_input(name, info, n, g) for name, info in sorted(input_info.items())}
    names = list(inputs)
    masks = {}
    for i, name in enumerate(names):
        mask = torch.rand(n, generator=g) > 0.3
        mask[0] = True
        mask[1 + i % max(n - 1, 1)] = False  # each modality missing in at least one row
        masks[name] = mask
    if n > len(names) + 1:
        for name in names:  # and one row with nothing at all
            masks[name][-1] = False
    return EncodedData(inputs, masks, {}, np.arange(n))


def _random_input(name: str, info: Mapping[str, Any], n: int, g: torch.Generator) -> Tensor:
    kind = info.get("kind")
    if "pretrained" in info:
        if str(info.get("train", "frozen")) != "frozen":
            raise ExportError(f"modality {name!r}: the pretrained encoder {info['pretrained']} is fine-tuned "
                              f"(train={info.get('train')}) and takes its backbone's own inputs; only frozen "
                              "pretrained encoders (whose inputs are their embeddings) are exported")
        return torch.randn(n, int(info["embedding_dim"]), generator=g)
    if kind == "image":
        return torch.randn(n, int(info["channels"]), int(info["height"]), int(info["width"]), generator=g)
    if kind == "audio":
        return torch.randn(n, 1, int(info["n_mels"]), int(info["n_frames"]), generator=g)
    if kind == "text":
        vocab, length = int(info["vocab_size"]), int(info["max_length"])
        ids = torch.randint(2, max(vocab, 3), (n, length), generator=g)
        lengths = torch.randint(1, length + 1, (n,), generator=g)
        return torch.where(torch.arange(length)[None, :] < lengths[:, None], ids, torch.zeros_like(ids))
    if kind == "tabular":
        numeric = torch.randn(n, int(info["n_numeric"]), generator=g)
        codes = [torch.randint(0, int(c), (n, 1), generator=g).float() for c in info.get("cardinalities", [])]
        return torch.cat([numeric, *codes], dim=1)
    if kind == "vector":
        return torch.randn(n, int(info["dim"]), generator=g)
    raise ExportError(f"modality {name!r}: no synthetic batch for inputs of kind {kind!r}, so the export cannot be "
                      "checked")


@dataclass
class ExportResult:
    """Where the graph and its sidecar were written, and the check: the largest absolute difference between
    torch and onnxruntime on each checked batch (``{"synthetic": ..., "table": ...}``)."""

    path: Path
    sidecar: Path
    differences: dict[str, float] = field(default_factory=dict)

    @property
    def max_abs_diff(self) -> float:
        return max(self.differences.values())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's own warnings (Python's, and its C++ shape-inference notes written to file descriptor 2)
    and its dump of the TorchScript graph on a failure, kept off the console (the failure itself is raised)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()), _fd_silenced(2):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _fd_silenced(fd: int) -> Iterator[None]:
    try:
        saved = os.dup(fd)
    except OSError:  # no such descriptor (an embedded interpreter): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _export(module: nn.Module, args: tuple[Tensor, ...], path: Path | io.BytesIO, inputs: list[str],
            outputs: list[str], opset: int) -> None:
    where: Any = path  # the exporter writes to a file-like object too
    with _quiet():
        torch.onnx.export(module, args, where, dynamo=False, opset_version=opset, input_names=inputs,
                          output_names=outputs, dynamic_axes={name: {0: "batch"} for name in inputs + outputs})


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def failing_part(predictor: Predictor, batch: EncodedData, opset: int) -> str:
    """The first part of the model that does not export on its own: an encoder (named by its modality) or the
    fusion; ``"the model"`` when each part exports alone."""
    model = predictor.model
    encoders: Mapping[str, nn.Module] = getattr(model, "encoders", {})
    for name, encoder in encoders.items():
        try:
            _export(encoder, (batch.inputs[name],), io.BytesIO(), ["x"], ["y"], opset)
        except Exception as exc:
            return f"the encoder of modality {name!r} ({type(encoder).__name__}) does not export: {_reason(exc)}"
    fusions: Mapping[str, nn.Module] = getattr(model, "fusions", {})
    if fusions:
        return f"the fusion ({', '.join(sorted({type(f).__name__ for f in fusions.values()}))}) does not export"
    return "the model does not export"


def _run(session: Any, graph: ExportedGraph, batch: EncodedData) -> dict[str, np.ndarray]:
    feed = {input_name(m): batch.inputs[m].numpy() for m in graph.modalities}
    feed.update({mask_name(m): batch.masks[m].numpy() for m in graph.modalities})
    wanted = {i.name for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {k: v for k, v in feed.items() if k in wanted}), strict=True))


def compare(session: Any, graph: ExportedGraph, batch: EncodedData) -> float:
    """The largest absolute difference between the graph's probabilities (values for regression: compared
    standardised) under onnxruntime and torch's, on ``batch``."""
    got = _run(session, graph, batch)
    with torch.no_grad():
        expected = graph.model.eval()(batch.inputs, batch.masks)
    worst = 0.0
    for target, encoder in graph.encoders.items():
        logits_name, second = output_names(target, encoder.task)
        if encoder.task is TaskKind.REGRESSION:
            diff = np.abs(got[logits_name] - expected[target].numpy())
        else:
            diff = np.abs(got[second] - probabilities(encoder, expected[target]).numpy())
        worst = max(worst, float(diff.max()) if diff.size else 0.0)
    return worst


def _require_onnx() -> Any:
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - in the export and dev extras
        raise ImportError("ONNX export needs onnx and onnxruntime: pip install 'polymodal[export]'") from exc
    return onnxruntime


def export_onnx(predictor: Predictor, out: str | Path, *, check_table: TableLike | None = None,
                opset: int = OPSET, tolerance: float = TOLERANCE, synthetic_rows: int = 16,
                on_error: str | None = None) -> ExportResult:
    """Export ``predictor``'s model to the ONNX file ``out`` (and its sidecar ``out.json``), checked with
    onnxruntime on a synthetic batch and on the rows of ``check_table`` when given (see the module doc).

    Raises :class:`ExportError` naming the part (a modality's encoder, the fusion) that does not export, or
    giving the difference when the graph does not reproduce the model; nothing is written then.
    """
    ort = _require_onnx()
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give the file to write, e.g. {out / 'model.onnx'}")
    model = predictor.model.eval()
    info = predictor.pipeline.input_info()
    graph = ExportedGraph(model, sorted(info), predictor.pipeline.targets)
    names_in = [input_name(m) for m in graph.modalities] + [mask_name(m) for m in graph.modalities]
    names_out = [name for t, e in graph.encoders.items() for name in output_names(t, e.task)]
    check = synthetic_batch(info, synthetic_rows)
    example = check.subset(np.arange(min(4, len(check))))  # traced on a smaller batch than it is checked on
    args = tuple(example.inputs[m] for m in graph.modalities) + tuple(example.masks[m] for m in graph.modalities)
    with tempfile.TemporaryDirectory(prefix=".polymodal-onnx-") as tmp:
        staged = Path(tmp) / "model.onnx"
        try:
            _export(graph, args, staged, names_in, names_out, opset)
        except Exception as exc:
            raise ExportError(f"cannot export the model to ONNX: {failing_part(predictor, check, opset)} "
                              f"({_reason(exc)})") from exc
        fingerprint = model_fingerprint(model)
        _stamp(staged, fingerprint)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(staged), options, providers=["CPUExecutionProvider"])
        differences = {"synthetic": compare(session, graph, check)}
        if check_table is not None:
            loaded = predictor.load_cells(check_table, with_targets=False, on_error=on_error)
            differences["table"] = compare(session, graph, predictor.pipeline.transform(loaded, with_targets=False))
        worst = max(differences.values())
        if not worst < tolerance:
            where = ", ".join(f"{k} {v:.3g}" for k, v in differences.items())
            raise ExportError(f"the ONNX graph does not reproduce the model: the largest difference of "
                              f"probabilities is {worst:.3g} ({where}), not below {tolerance:g}; nothing was "
                              "written")
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        shutil.move(str(staged), partial)
        partial.replace(out)
    sidecar = sidecar_path(out)
    atomic_write_json(sidecar, {**describe(predictor, graph, opset, differences, check_rows=synthetic_rows),
                                FINGERPRINT_KEY: fingerprint})
    return ExportResult(out, sidecar, differences)


def describe(predictor: Predictor, graph: ExportedGraph, opset: int, differences: Mapping[str, float],
             check_rows: int) -> dict[str, Any]:
    """The sidecar: every input and output of the graph, and how the export was checked."""
    info = predictor.pipeline.input_info()
    example = synthetic_batch(info, 2)
    inputs = []
    for m in graph.modalities:
        tensor = example.inputs[m]
        inputs.append({"name": input_name(m), "modality": m, "kind": info[m].get("kind"),
                       "dtype": str(tensor.dtype).removeprefix("torch."), "shape": ["batch", *tensor.shape[1:]]})
        inputs.append({"name": mask_name(m), "modality": m, "dtype": "bool", "shape": ["batch"],
                       "meaning": "True where the row holds the modality (False: treated as missing)"})
    outputs: list[dict[str, Any]] = []
    for target, encoder in graph.encoders.items():
        logits, second = output_names(target, encoder.task)
        classes = None if encoder.task is TaskKind.REGRESSION else list(encoder.classes_)
        outputs.append({"name": logits, "target": target, "task": encoder.task.value, "meaning": "logits"})
        meaning = {TaskKind.REGRESSION: "the predicted value in the target's units",
                   TaskKind.BINARY: "probabilities of the two classes [1 - p, p] (sigmoid of the logit)",
                   TaskKind.MULTILABEL: "one probability per label (sigmoid)"}.get(encoder.task,
                                                                                   "class probabilities (softmax)")
        outputs.append({"name": second, "target": target, "task": encoder.task.value, "meaning": meaning,
                        "classes": classes})
    return {"format": SIDECAR_FORMAT, "version": SIDECAR_VERSION, "polymodal_version": __version__, "opset": opset,
            "batch_axis": 0, "inputs": inputs, "outputs": outputs,
            "preprocessing": "polymodal's fitted pipeline of the bundle (polymodal predict --runtime onnx)",
            "check": {"runtime": "onnxruntime", "synthetic_rows": check_rows, "max_abs_diff": dict(differences),
                      "tolerance": TOLERANCE}}
