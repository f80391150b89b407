"""Model bundles: a folder with JSON config, safetensors weights and JSON/NPZ preprocessing state.

No pickle anywhere: weights are safetensors, arrays are ``.npz`` read with ``allow_pickle=False``,
everything else is JSON. Bundles are written atomically (a temporary folder, then a rename), one
writer at a time, and replace only a folder that is a bundle (see :func:`check_writable_bundle_path`
and ``docs/files.md``). Loading checks every file before use: a symbolic link, a pickle, a damaged
or truncated weights file, weights of the wrong shape or weights that are not finite are each a
:class:`~polymodal.errors.BundleError` naming the file.

Layout::

    bundle/
      polymodal.json        format version, what kind of model, library versions
      config.json           the resolved experiment configuration
      model.json            what the model builder needs (sizes, targets, modality kinds)
      model.safetensors     the weights
      pipeline.json         schema, preprocessing and target state
      pipeline.npz          preprocessing arrays
      metrics.json          validation (and test) metrics measured at fit time
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from polymodal.errors import BundleError, PolymodalError
from polymodal.storage.atomic import atomic_directory, recover_directory, write_with_umask
from polymodal.storage.tensor_files import read_safetensors, safetensors_problem

FORMAT_VERSION = 1
MARKER = "polymodal.json"
WEIGHTS = "model.safetensors"
REQUIRED = (MARKER, "config.json", "model.json", WEIGHTS, "pipeline.json", "pipeline.npz")
LAYOUT = (*REQUIRED, "metrics.json")
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib")
PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"PK\x03\x04")
# the first opcodes of a protocol 0 or 1 pickle (MARK, EMPTY_DICT/LIST/TUPLE, GLOBAL, ...); it ends with STOP
PICKLE_TEXT_START = b"(}])cISVNFLKJUXGT"
DAMAGED_HINT = "the bundle is damaged: save (or train) the model again"


@dataclass
class BundleContents:
    kind: str
    config: dict[str, Any]
    model: dict[str, Any]
    weights: dict[str, torch.Tensor]
    pipeline_state: dict[str, Any]
    pipeline_arrays: dict[str, np.ndarray]
    metrics: dict[str, Any]
    polymodal_version: str | None = None  # the writer's version, passed down (this layer imports no upper one)


def check_writable_bundle_path(path: str | Path, kind: str | None = None, force: bool = False,
                               inputs: Iterable[str | Path] = ()) -> Path:
    """Raise :class:`BundleError` unless a bundle of ``kind`` may be saved to ``path``; return it.

    Call it before training, so that a bad ``--out`` costs no training time; :func:`save_bundle`
    checks again. A folder is replaced only when it is absent, empty, or a polymodal bundle (its
    marker ``polymodal.json`` and nothing but bundle files). ``force`` also replaces a bundle of
    another kind, a damaged one, or one holding other files; a folder without the marker is never
    replaced, and neither is the current folder, a folder holding one of ``inputs`` (the table, the
    data root), or a parent of either.
    """
    path = Path(path)
    target = path.resolve()
    here = Path.cwd().resolve()
    if target == here or target in here.parents:
        raise BundleError(f"refusing to save the model to {path}: it is the current folder or a parent of it, "
                          f"and saving replaces the whole folder; give a new folder, such as {path / 'model'}")
    for item in inputs:
        held = Path(item).resolve()
        if target == held or target in held.parents:
            raise BundleError(f"refusing to save the model to {path}: it holds {item}, an input of this run, and "
                              f"saving replaces the whole folder; give a new folder, such as {path / 'model'}")
    _check_replaceable(path, kind, force)
    return path


def _check_replaceable(path: Path, kind: str | None, force: bool) -> None:
    if path.is_symlink():
        raise BundleError(f"refusing to save the model to {path}: it is a symbolic link (to {os.readlink(path)}); "
                          "give the folder itself")
    if not path.exists():
        return
    if not path.is_dir():
        raise BundleError(f"refusing to save the model to {path}: it is a file, and a bundle is a folder; "
                          "choose another --out")
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    if not entries:
        return
    foreign = [name for name in entries if name not in LAYOUT]
    if MARKER not in entries:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise BundleError(f"refusing to replace {path}: it is not a polymodal bundle (it has no {MARKER}) and "
                          f"holds {shown}; polymodal replaces only folders it wrote. Choose another --out, "
                          f"or move that folder away yourself")
    problem = _replace_problem(path, kind, foreign)
    if problem and not force:
        raise BundleError(f"refusing to replace {path}: {problem}; choose another --out, or pass --force "
                          "(force=True) to replace it")


def _replace_problem(path: Path, kind: str | None, foreign: list[str]) -> str | None:
    try:
        meta = json.loads((path / MARKER).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        meta = None
    if not isinstance(meta, dict) or not {"format_version", "kind"} <= set(meta):
        return f"its {MARKER} is damaged, so it may not be a polymodal bundle"
    if foreign:
        return f"the bundle also holds files polymodal did not write ({', '.join(foreign[:5])})"
    if kind is not None and meta["kind"] != kind:
        return f"it holds a {meta['kind']!r} model, and this saves a {kind!r} one"
    return None


def save_bundle(path: str | Path, contents: BundleContents, force: bool = False) -> Path:
    """Write ``contents`` to the folder ``path`` atomically; an existing bundle is replaced whole.

    Anything else at ``path`` is refused (see :func:`check_writable_bundle_path`).
    """
    path = Path(path)
    with atomic_directory(path, check=lambda p: _check_replaceable(p, contents.kind, force)) as tmp:
        _write_json(tmp / MARKER, {
            "format_version": FORMAT_VERSION, "kind": contents.kind, "polymodal_version": contents.polymodal_version,
            "torch_version": torch.__version__,
        })
        _write_json(tmp / "config.json", contents.config)
        _write_json(tmp / "model.json", contents.model)
        _write_json(tmp / "pipeline.json", contents.pipeline_state)
        _write_json(tmp / "metrics.json", contents.metrics)
        weights = {k: v.detach().cpu().contiguous() for k, v in contents.weights.items()}
        write_with_umask(tmp / WEIGHTS, lambda file: save_file(weights, str(file)))
        buffer = io.BytesIO()
        np.savez(buffer, **contents.pipeline_arrays)  # type: ignore[arg-type]
        (tmp / "pipeline.npz").write_bytes(buffer.getvalue())
    return path


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _refuse_unsafe_files(path: Path) -> None:
    if path.is_file():
        raise BundleError(_pickle_message(path) if _looks_pickled(path) else
                          f"{path} is a file; a polymodal bundle is a folder (made by `polymodal fit --out DIR`)")
    for item in sorted(path.iterdir()):
        if item.is_symlink():
            raise BundleError(f"refusing to load {path}: {item.name} is a symbolic link (to {os.readlink(item)}); "
                              "a bundle holds its own files only. Copy the file in place of the link")
        if item.suffix.lower() in PICKLE_SUFFIXES:
            raise BundleError(_pickle_message(item))
        if item.name == WEIGHTS and item.is_file():
            # by content: a pickle renamed to model.safetensors is refused as well (a valid safetensors header
            # may begin with the bytes of a pickle's magic, so the header is checked first)
            if safetensors_problem(item) is not None and _looks_pickled(item, text_protocols=True):
                raise BundleError(_pickle_message(item))
        elif item.is_file() and item.suffix.lower() != ".npz" and _looks_pickled(item):
            raise BundleError(_pickle_message(item))  # an .npz is a zip by design, read with allow_pickle=False


def _looks_pickled(path: Path, text_protocols: bool = False) -> bool:
    """By name or magic bytes; with ``text_protocols`` also a protocol 0/1 pickle (an opcode first, STOP last)."""
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return True
    with path.open("rb") as fh:
        head = fh.read(4)
        last = b""
        if head:
            fh.seek(-1, os.SEEK_END)
            last = fh.read(1)
    if any(head.startswith(m) for m in PICKLE_MAGIC):
        return True
    return text_protocols and head[:1] != b"" and head[:1] in PICKLE_TEXT_START and last == b"."


def _pickle_message(path: Path) -> str:
    return (f"refusing to load {path}: it is a pickle-based file, and loading a pickle can run arbitrary code. "
            "polymodal bundles hold only JSON, safetensors and NPZ; re-export the model with polymodal")


def load_bundle(path: str | Path) -> BundleContents:
    """Read a bundle; refuses pickles, links, damaged files and weights that are not finite, and explains why."""
    path = recover_directory(Path(path))
    if not path.exists():
        raise BundleError(f"no bundle at {path}")
    _refuse_unsafe_files(path)
    missing = [name for name in REQUIRED if not (path / name).exists()]
    if missing:
        raise BundleError(f"{path} is not a complete polymodal bundle: missing {', '.join(missing)}")
    meta = _read_json(path / MARKER)
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION or "kind" not in meta:
        found = meta.get("format_version") if isinstance(meta, dict) else None
        raise BundleError(f"{path} has bundle format {found}; this polymodal reads format {FORMAT_VERSION}")
    try:
        with np.load(path / "pipeline.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError) as exc:
        raise BundleError(f"{path / 'pipeline.npz'} is damaged ({exc}); {DAMAGED_HINT}") from exc
    weights = read_safetensors(path / WEIGHTS, BundleError, DAMAGED_HINT)
    _refuse_non_finite(path / WEIGHTS, weights)
    metrics_path = path / "metrics.json"
    return BundleContents(
        kind=str(meta["kind"]), config=_read_json(path / "config.json"), model=_read_json(path / "model.json"),
        weights=weights, pipeline_state=_read_json(path / "pipeline.json"), pipeline_arrays=arrays,
        metrics=_read_json(metrics_path) if metrics_path.exists() else {},
        polymodal_version=meta.get("polymodal_version"),
    )


def _refuse_non_finite(path: Path, weights: dict[str, torch.Tensor]) -> None:
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise BundleError(f"refusing to load {path}: tensor {name!r} holds NaN or infinite values, so every "
                              "prediction would be too; the training diverged or the file is damaged. Train "
                              "the model again (a lower learning rate often helps)")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}); {DAMAGED_HINT}") from exc


@contextmanager
def reading_part(path: str | Path, name: str) -> Iterator[None]:
    """Turn an error met while rebuilding a model from the file ``name`` of the bundle ``path``
    (a key missing from a damaged ``model.json``, say) into a :class:`BundleError` naming that file."""
    try:
        yield
    except PolymodalError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise BundleError(f"{Path(path) / name} does not describe a model this polymodal can build "
                          f"({type(exc).__name__}: {exc}); {DAMAGED_HINT}") from exc


def load_weights(model: nn.Module, weights: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load a bundle's ``weights`` into the ``model`` rebuilt from its ``model.json``; a weight missing,
    unexpected or of another shape is a :class:`BundleError` naming the bundle's files."""
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as exc:  # a shape that differs: model.json and model.safetensors disagree
        raise BundleError(f"the weights in {Path(path) / WEIGHTS} do not fit the model described by "
                          f"{Path(path) / 'model.json'}: {exc}; {DAMAGED_HINT}") from exc
    if missing or unexpected:
        raise BundleError(f"the weights in {path} do not fit the model: missing {missing}, unexpected {unexpected}")
