"""Reading weight files safely: safetensors, or PyTorch files with ``weights_only=True`` (no code runs)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor


def load_state_dict(path: Path, key: str | None = None) -> dict[str, Tensor]:
    """The tensors of a ``.safetensors`` file, or of a ``.pt``/``.pth`` file (optionally under ``key``).

    PyTorch files are read with ``torch.load(weights_only=True)``, which refuses anything but
    tensors and plain containers.
    """
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"cannot read {path} as a PyTorch state dict (weights only): {exc}") from exc
    if key is not None and isinstance(loaded, dict) and key in loaded:
        loaded = loaded[key]
    if not isinstance(loaded, dict) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    return dict(loaded)
