"""Nested training state (dicts, lists, numbers, tensors) as a folder of safetensors + JSON, never a pickle.

Tensors go to ``state.safetensors`` under generated names; everything else goes to ``state.json`` with a
``{"__tensor__": name}`` marker where a tensor was. Tuples and dicts with non-string keys (an optimizer's
``state`` is keyed by parameter index) are tagged so that they come back as they were. The folder is
written with :func:`~polymodal.storage.atomic.atomic_directory`: a reader sees the old state or the new
one, never half of one, and a folder holding anything else is never replaced. A damaged state (a
truncated file, say) is a :class:`~polymodal.errors.ResumeError` naming the file.

Example
-------
>>> save_state("run/resume", {"epoch": 3, "weights": {"w": torch.zeros(2)}})  # doctest: +SKIP
>>> load_state("run/resume")["weights"]["w"]                                   # doctest: +SKIP
tensor([0., 0.])
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from polymodal.errors import ResumeError
from polymodal.storage.atomic import atomic_directory, recover_directory, write_with_umask
from polymodal.storage.tensor_files import read_safetensors

TENSORS = "state.safetensors"
JSON = "state.json"
_SCALARS = (str, int, float, bool, type(None))
DAMAGED_HINT = "the saved state is damaged: start afresh (without --resume, or in another --run-dir)"


def check_state_path(directory: str | Path) -> Path:
    """Raise :class:`ResumeError` unless ``directory`` is absent, empty or a saved state (only
    ``state.json`` and ``state.safetensors``): :func:`save_state` replaces it whole."""
    directory = Path(directory)
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise ResumeError(f"refusing to write the training state to {directory}: it is a file or a link, not a "
                          "folder; give another --run-dir")
    foreign = sorted(p.name for p in directory.iterdir() if p.name not in (JSON, TENSORS)) if directory.exists() else []
    if foreign:
        raise ResumeError(f"refusing to replace {directory}: it holds {', '.join(foreign[:5])}, which polymodal did "
                          "not write, and the training state replaces the whole folder; give another --run-dir")
    return directory


def save_state(directory: str | Path, state: Any) -> Path:
    """Write ``state`` to the folder ``directory`` atomically (an existing state is replaced whole)."""
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode(state, "", tensors)
    with atomic_directory(directory, check=check_state_path) as tmp:
        write_with_umask(tmp / TENSORS, lambda file: save_file(tensors, str(file)))
        (tmp / JSON).write_text(json.dumps(encoded, indent=1, sort_keys=True) + "\n")
        for name in (TENSORS, JSON):  # on disk before the rename: a machine crash must not leave empty files
            _fsync(tmp / name)
    return Path(directory)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_state(directory: str | Path) -> Any:
    """Read a state written by :func:`save_state` (tensors on the CPU)."""
    directory = recover_directory(directory)
    encoded = read_state_json(directory)
    tensors = read_safetensors(directory / TENSORS, ResumeError, DAMAGED_HINT)
    try:
        return _decode(encoded, tensors)
    except (KeyError, TypeError, ValueError) as exc:  # a marker naming a tensor the file does not hold
        raise ResumeError(f"{directory / JSON} does not match {directory / TENSORS} ({type(exc).__name__}: {exc}); "
                          f"{DAMAGED_HINT}") from exc


def read_state_json(directory: str | Path) -> Any:
    """The JSON half of a state only (cheap: no tensor is read); tensors appear as their markers."""
    path = recover_directory(directory) / JSON
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResumeError(f"{path} is not valid JSON ({exc}); {DAMAGED_HINT}") from exc


def state_exists(directory: str | Path) -> bool:
    directory = recover_directory(directory)
    return (directory / JSON).is_file() and (directory / TENSORS).is_file()


def _encode(value: Any, where: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = value.detach().cpu().contiguous().clone()
        return {"__tensor__": name}
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{where}[{i}]", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _encode(v, f"{where}.{k}", tensors) for k, v in value.items()}
        if all(isinstance(k, (str, int)) for k in value):
            return {"__items__": [[k, _encode(v, f"{where}.{k}", tensors)] for k, v in value.items()]}
    raise TypeError(f"cannot save {type(value).__name__} at {where or 'the top level'} of a training state: "
                    "only tensors, numbers, strings, None, lists, tuples and dicts are stored (never pickles)")


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if "__tuple__" in value:
        return tuple(_decode(v, tensors) for v in value["__tuple__"])
    if "__items__" in value:
        return {k: _decode(v, tensors) for k, v in value["__items__"]}
    return {k: _decode(v, tensors) for k, v in value.items()}
