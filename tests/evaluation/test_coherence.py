"""Coherence of generated samples: by hand, and with a polymodal classifier on a case with a known answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import polymodal
from polymodal.datasets.digits import save_png
from polymodal.evaluation.coherence import coherence_scores, generation_coherence, per_class_coherence


def test_scores_by_hand() -> None:
    scores = coherence_scores(["a", "b", "b", "c"], ["a", "b", "c", "c"], n_classes=4)
    assert scores == {"coherence": 0.75, "n": 4, "chance": 0.25, "majority": 0.5}
    assert coherence_scores([3.0, 1], ["3", 2])["coherence"] == 0.5  # 3.0, 3 and "3" are one label
    assert per_class_coherence(["a", "b", "b", "c"], ["a", "b", "c", "c"]) == {"a": 1.0, "b": 1.0, "c": 0.5}
    with pytest.raises(ValueError, match=r"3 prediction\(s\) but 2 label\(s\)"):
        coherence_scores([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="no generated samples"):
        coherence_scores([], [])


def write_images(folder: Path, name: str, labels: list[str]) -> Path:
    """A table of 8x8 images, white for label "light" and black for "dark", with column ``tone``."""
    paths = []
    for i, label in enumerate(labels):
        path = f"{name}/{i:03d}.png"
        save_png(folder / path, np.full((8, 8), 255 if label == "light" else 0, dtype=np.uint8))
        paths.append(path)
    csv = folder / f"{name}.csv"
    pd.DataFrame({"image": paths, "tone": labels}).to_csv(csv, index=False)
    return csv


def test_a_classifier_of_the_real_modality_judges_generated_samples(tmp_path: Path) -> None:
    real = write_images(tmp_path, "real", ["light", "dark"] * 20)
    classifier = polymodal.fit(real, target="tone", epochs=8, lr=1e-2, progress=False,
                               encoder_args={"image": {"base_channels": 4, "output_dim": 8}})
    right = write_images(tmp_path, "right", ["light", "dark", "dark", "light"])
    wrong = write_images(tmp_path, "wrong", ["light", "dark", "dark", "light"])
    frame = pd.read_csv(wrong)
    frame["tone"] = ["dark", "light", "dark", "dark"]  # samples contradicting their source label on rows 0, 1, 3
    frame.to_csv(wrong, index=False)
    assert generation_coherence(classifier, right, "tone") == {"coherence": 1.0, "n": 4, "chance": 0.5,
                                                               "majority": 0.5}
    assert generation_coherence(classifier, wrong, "tone")["coherence"] == 0.25
    with pytest.raises(ValueError, match="label column 'digit' is not in the generated table"):
        generation_coherence(classifier, right, "digit")
    with pytest.raises(ValueError, match=r"the classifier has no target 'digit'; its targets: \['tone'\]"):
        generation_coherence(classifier, right, "tone", target="digit")
