"""Shared fixtures: small built-in tables made once per test session, and the real data when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from polymodal.datasets import make_digits_two_view, make_messy_table, make_synthetic_table

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory):
    """The embedding and baseline cache of the test run in a temporary folder (never the user's
    ``~/.cache/polymodal``), unless ``POLYMODAL_CACHE`` is set."""
    if "POLYMODAL_CACHE" in os.environ:
        yield Path(os.environ["POLYMODAL_CACHE"])
        return
    folder = tmp_path_factory.mktemp("polymodal-cache")
    os.environ["POLYMODAL_CACHE"] = str(folder)
    yield folder
    os.environ.pop("POLYMODAL_CACHE", None)


@pytest.fixture
def one_thread():
    """torch on one thread for the test (pretrained backbones: fast enough, and steadier beside other jobs)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded two-view digits table (1,797 rows), seed 0."""
    return make_digits_two_view(tmp_path_factory.mktemp("digits"), seed=0)


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 120-row synthetic multiclass table (3 classes) with every kind of column; target ``label``."""
    return make_synthetic_table(tmp_path_factory.mktemp("synthetic"), seed=0)


@pytest.fixture
def messy_table(tmp_path: Path) -> tuple[Path, list[dict[str, object]]]:
    """A 30-row table with deliberate defects, and the list of them (row, column, kind, detail).

    Function-scoped: tests may damage or repair it.
    """
    return make_messy_table(tmp_path / "messy", seed=0)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (``$POLYMODAL_DATA``, else ``<repo>/../shared/data``); skips when absent."""
    configured = os.environ.get("POLYMODAL_DATA")
    root = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    if not root.is_dir():
        source = "$POLYMODAL_DATA" if configured else "the default location"
        pytest.skip(f"real data not found at {root} ({source}); set POLYMODAL_DATA to the shared data folder")
    return root
