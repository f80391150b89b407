"""polymodal: multimodal learning from tables of images, audio, text and tabular values.

>>> import polymodal
>>> predictor = polymodal.fit("table.csv", target="label")  # doctest: +SKIP
>>> polymodal.load("model/").predict("new.csv")              # doctest: +SKIP

The top-level functions are imported on first use, so that ``import polymodal`` (and the command
line's ``--help``) does not pay for torch and Lightning.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from polymodal._version import __version__

_LAZY = {
    "fit": "polymodal.api",
    "load": "polymodal.api",
    "load_pretrained": "polymodal.api",
    "from_joint": "polymodal.api",
    "zero_shot": "polymodal.api",
    "pretrain": "polymodal.engine.pretrain",
    "generate": "polymodal.generation",
    "tune": "polymodal.api",
    "explain": "polymodal.api",
    "export_onnx": "polymodal.api",
}

if TYPE_CHECKING:
    from polymodal.api import explain, export_onnx, fit, from_joint, load, load_pretrained, tune, zero_shot
    from polymodal.engine.pretrain import pretrain
    from polymodal.generation import generate


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'polymodal' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = ["__version__", "explain", "export_onnx", "fit", "from_joint", "generate", "load", "load_pretrained",
           "pretrain", "tune", "zero_shot"]
