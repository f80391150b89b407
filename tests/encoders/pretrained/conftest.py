"""The tiny random Hugging Face models of every hf: family, saved once per session (see tiny_hf)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.encoders.pretrained.tiny_hf import BUILDERS, save_tiny


@pytest.fixture(scope="session")
def hf_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every tiny model, by family folder name (see :data:`BUILDERS`)."""
    pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("hf")
    return {name: save_tiny(name, root / name) for name in BUILDERS}
