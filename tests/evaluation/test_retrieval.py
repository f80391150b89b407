"""Retrieval scores and linear probes against hand computations; retrieval from a pretrained bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polymodal.cli import main
from polymodal.evaluation.retrieval import first_hit_ranks, linear_probe, retrieval_scores


def test_paired_ranks_by_hand() -> None:
    query = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    gallery = np.array([[1.0, 0.1], [1.0, 0.0], [0.0, 1.0]])
    # cosine similarities: q0 -> [0.995, 1, 0] (its pair g0 ranks 2); q1 -> [0.0995, 0, 1] (g1 ranks 3);
    # q2 -> [0.774, 0.707, 0.707] (g2 ties g1 behind g0: ties count against the query, rank 3)
    assert first_hit_ranks(query, gallery).tolist() == [2, 3, 3]
    scores = retrieval_scores(query, gallery, ks=(1, 2, 3))
    assert scores == {"recall@1": 0.0, "recall@2": 1 / 3, "recall@3": 1.0, "median_rank": 3.0,
                      "mean_rank": pytest.approx(8 / 3), "n": 3.0}


def test_label_hits() -> None:
    query = np.array([[1.0, 0.0], [0.0, 1.0]])
    gallery = np.array([[0.0, 1.0], [1.0, 0.0], [0.7, 0.7]])
    ranks = first_hit_ranks(query, gallery, labels=["a", "b"], gallery_labels=["b", "a", "a"])
    assert ranks.tolist() == [1, 1]
    with pytest.raises(ValueError, match="no item of its label 'c'"):
        first_hit_ranks(query, gallery, labels=["a", "c"], gallery_labels=["b", "a", "a"])
    with pytest.raises(ValueError, match="as many queries as gallery items"):
        first_hit_ranks(query, gallery)


def test_linear_probe_separates_separable_classes() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    z = np.eye(3)[y] * 3 + rng.normal(size=(300, 3)) * 0.3
    out = linear_probe(z[:200], y[:200], z[200:], y[200:])
    assert out["accuracy"] > 0.95 and out["n_train"] == 200 and out["n_test"] == 100


def test_retrieve_cli_on_a_contrastive_bundle(digits_csv: Path, tmp_path: Path, capsys) -> None:
    table = digits_csv.parent / "retrieve-120.csv"
    pd.read_csv(digits_csv).iloc[:120].to_csv(table, index=False)
    assert main(["pretrain", str(table), "--objective", "contrastive", "--ignore", "digit", "--encoder-arg",
                 "image.base_channels=4", "--encoder-arg", "image.output_dim=8", "--epochs", "1", "--out",
                 str(tmp_path / "enc")]) == 0
    capsys.readouterr()
    assert main(["retrieve", str(tmp_path / "enc"), str(table), "--from", "rotated", "--to", "noisy",
                 "--label", "digit", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["n"] == 120 and 0 <= scores["recall@1"] <= scores["recall@5"] <= scores["recall@10"] <= 1
    assert main(["retrieve", str(tmp_path / "enc"), str(table), "--from", "rotated", "--to", "sound"]) == 2
    assert "unknown modality 'sound'" in capsys.readouterr().err
