"""Small trained models for the explanation tests: three modalities on a table built so some carry the label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import polymodal
from polymodal.datasets import make_synthetic_table
from polymodal.predictor import Predictor

TINY_ENCODERS = {"image": {"base_channels": 4, "output_dim": 16, "num_stages": 1},
                 "text": {"output_dim": 16, "embedding_dim": 8, "hidden_dim": 8},
                 "tabular": {"output_dim": 16, "hidden_dim": 16}}


def three_modality_frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Three modalities: ``tabular`` (``x`` shows the label, ``z`` is noise), the vector ``u`` (a noisy one-hot
    of the label) and the vector ``w`` (noise)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return pd.DataFrame({"x": y + rng.normal(0, 0.5, n), "z": rng.normal(size=n),
                         "u": [[float(a) for a in v] for v in np.eye(3)[y] + rng.normal(0, 1.0, (n, 3))],
                         "w": [[float(a) for a in v] for v in rng.normal(size=(n, 2))], "label": y})


@pytest.fixture(scope="session")
def three_modality() -> tuple[Predictor, pd.DataFrame]:
    """A concat-fusion model trained 5 short epochs on :func:`three_modality_frame`, and the frame."""
    frame = three_modality_frame()
    predictor = polymodal.fit(frame, target="label", epochs=5, progress=False, preset="none", baseline=False,
                              batch_size=16, lr=1e-2, seed=0)
    return predictor, frame


@pytest.fixture(scope="session")
def media_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A bundle trained one epoch on a 48-row synthetic table of image, text and numeric columns (tiny encoders),
    and the table."""
    folder = tmp_path_factory.mktemp("media")
    csv = make_synthetic_table(folder / "table", n_rows=48, kinds=("image", "text", "numeric"))
    predictor = polymodal.fit(csv, target="label", epochs=1, progress=False, preset="none", baseline=False,
                              batch_size=16, encoder_args=TINY_ENCODERS, preprocess={"image": {"image_size": 16}})
    return predictor.save(folder / "bundle"), csv
