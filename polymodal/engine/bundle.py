"""Model bundles: a folder with JSON config, safetensors weights and JSON/NPZ preprocessing state.

No pickle anywhere: weights are safetensors, arrays are ``.npz`` read with ``allow_pickle=False``,
everything else is JSON. Bundles are written atomically (a temporary folder, then a rename).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from polymodal import __version__
from polymodal.engine.atomic import atomic_directory, recover_directory
from polymodal.errors import BundleError

FORMAT_VERSION = 1
REQUIRED = ("polymodal.json", "config.json", "model.json", "model.safetensors", "pipeline.json", "pipeline.npz")
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib")
PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"PK\x03\x04")


@dataclass
class BundleContents:
    kind: str
    config: dict[str, Any]
    model: dict[str, Any]
    weights: dict[str, torch.Tensor]
    pipeline_state: dict[str, Any]
    pipeline_arrays: dict[str, np.ndarray]
    metrics: dict[str, Any]


def save_bundle(path: str | Path, contents: BundleContents) -> Path:
    """Write ``contents`` to the folder ``path`` atomically (an existing bundle is replaced whole)."""
    path = Path(path)
    with atomic_directory(path) as tmp:
        _write_json(tmp / "polymodal.json", {
            "format_version": FORMAT_VERSION, "kind": contents.kind, "polymodal_version": __version__,
            "torch_version": torch.__version__,
        })
        _write_json(tmp / "config.json", contents.config)
        _write_json(tmp / "model.json", contents.model)
        _write_json(tmp / "pipeline.json", contents.pipeline_state)
        _write_json(tmp / "metrics.json", contents.metrics)
        save_file({k: v.detach().cpu().contiguous() for k, v in contents.weights.items()},
                  str(tmp / "model.safetensors"))
        buffer = io.BytesIO()
        np.savez(buffer, **contents.pipeline_arrays)  # type: ignore[arg-type]
        (tmp / "pipeline.npz").write_bytes(buffer.getvalue())
    return path


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _refuse_pickles(path: Path) -> None:
    if path.is_file():
        raise BundleError(_pickle_message(path) if _looks_pickled(path) else
                          f"{path} is a file; a polymodal bundle is a folder (made by `polymodal fit --out DIR`)")
    for item in path.iterdir():
        # by name, and by content: a pickle renamed to model.safetensors is refused as well (an .npz is a
        # zip by design and is read with allow_pickle=False)
        by_content = item.is_file() and item.suffix.lower() != ".npz" and _looks_pickled(item)
        if item.suffix.lower() in PICKLE_SUFFIXES or by_content:
            raise BundleError(_pickle_message(item))


def _looks_pickled(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(4)
    return path.suffix.lower() in PICKLE_SUFFIXES or any(head.startswith(m) for m in PICKLE_MAGIC)


def _pickle_message(path: Path) -> str:
    return (f"refusing to load {path}: it is a pickle-based file, and loading a pickle can run arbitrary code. "
            "polymodal bundles hold only JSON, safetensors and NPZ; re-export the model with polymodal")


def load_bundle(path: str | Path) -> BundleContents:
    """Read a bundle; refuses folders holding pickle files and explains why."""
    path = recover_directory(Path(path))
    if not path.exists():
        raise BundleError(f"no bundle at {path}")
    _refuse_pickles(path)
    missing = [name for name in REQUIRED if not (path / name).exists()]
    if missing:
        raise BundleError(f"{path} is not a complete polymodal bundle: missing {', '.join(missing)}")
    meta = _read_json(path / "polymodal.json")
    if meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path} has bundle format {meta.get('format_version')}; this polymodal reads "
                          f"format {FORMAT_VERSION}")
    with np.load(path / "pipeline.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    metrics_path = path / "metrics.json"
    return BundleContents(
        kind=str(meta["kind"]), config=_read_json(path / "config.json"), model=_read_json(path / "model.json"),
        weights=load_file(str(path / "model.safetensors")), pipeline_state=_read_json(path / "pipeline.json"),
        pipeline_arrays=arrays, metrics=_read_json(metrics_path) if metrics_path.exists() else {},
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}); the bundle is damaged") from exc
