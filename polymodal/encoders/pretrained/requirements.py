"""Optional packages of the pretrained encoders: a missing one is a clear error saying what to install."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

from polymodal.errors import PolymodalError

INSTALL_HINT = "pip install 'polymodal[pretrained]'"


class MissingDependencyError(PolymodalError, ImportError):
    """A pretrained encoder needs a package that is not installed."""


def _missing(encoder: str, package: str, detail: str) -> MissingDependencyError:
    return MissingDependencyError(
        f"encoder {encoder!r} needs the package {package!r}, which is not usable here ({detail}); "
        f"install it with: {INSTALL_HINT} (or pip install {package})"
    )


def require(encoder: str, module: str, package: str) -> ModuleType:
    """Import ``module`` (from the PyPI package ``package``) or raise :class:`MissingDependencyError`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise _missing(encoder, package, f"import {module} failed: {exc}") from exc


def package_folder(encoder: str, module: str, package: str) -> Path:
    """The installed folder of ``module`` without importing it (for packages that only ship weights)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        raise _missing(encoder, package, str(exc)) from exc
    if spec is None or not spec.submodule_search_locations:
        raise _missing(encoder, package, f"no module named {module!r}")
    return Path(next(iter(spec.submodule_search_locations)))
