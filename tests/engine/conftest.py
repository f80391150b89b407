"""Fixtures for the engine tests: a small fast tabular table and a config without progress bar."""

from __future__ import annotations

from pathlib import Path

import pytest

from polymodal.datasets import make_synthetic_table

NO_PROGRESS = "train:\n  progress: false\n"


@pytest.fixture(scope="session")
def tabular_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 400-row synthetic 3-class table with numeric and categorical columns only: trains in seconds."""
    return make_synthetic_table(tmp_path_factory.mktemp("tabular"), n_rows=400, kinds=("numeric", "categorical"))


@pytest.fixture(scope="session")
def quiet_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config file that turns the progress bar off (the CLI has no flag for it)."""
    path = tmp_path_factory.mktemp("config") / "quiet.yaml"
    path.write_text(NO_PROGRESS)
    return path
