"""Reading safetensors files that may be damaged: the header is checked before anything is loaded.

A safetensors file is an 8-byte little-endian header length, a JSON header giving each tensor's byte
range, then the tensor bytes. A truncated file, a pickle renamed to ``.safetensors`` or random bytes
fail one of these checks, and the caller's error names the file and says what is wrong with it.

Example
-------
>>> safetensors_problem(Path("model.safetensors"))  # doctest: +SKIP
'it ends after 1200 of its 5000 bytes of tensors (the file is truncated)'
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from polymodal.errors import PolymodalError

MAX_HEADER = 100_000_000  # safetensors' own limit


def safetensors_problem(path: Path) -> str | None:
    """What is wrong with the safetensors file ``path``, or ``None`` when its header and size agree."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"it holds {size} byte(s), fewer than the 8 of a safetensors header"
        length = int.from_bytes(head, "little")
        if length == 0 or length > MAX_HEADER or 8 + length > size:
            return (f"its first 8 bytes give a header of {length} bytes in a file of {size}: it is truncated "
                    "or not a safetensors file")
        try:
            header = json.loads(fh.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return "its header is not JSON: it is not a safetensors file"
    if not isinstance(header, dict):
        return "its header is not a JSON object: it is not a safetensors file"
    try:
        end = max((int(entry["data_offsets"][1]) for key, entry in header.items() if key != "__metadata__"),
                  default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        return "its header does not give every tensor's byte range: it is not a safetensors file"
    stored = size - 8 - length
    if stored < end:
        return f"it ends after {stored} of its {end} bytes of tensors (the file is truncated)"
    return None


def read_safetensors(path: Path, error: type[PolymodalError], hint: str) -> dict[str, torch.Tensor]:
    """The tensors of ``path`` (on the CPU); a damaged file raises ``error`` naming it, ending in ``hint``."""
    problem = safetensors_problem(path)
    if problem is None:
        try:
            return load_file(str(path))
        except Exception as exc:
            problem = f"safetensors cannot read it ({exc})"
    raise error(f"{path} is damaged: {problem}; {hint}")
