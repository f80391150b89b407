"""The classical baseline: simple features per kind, fitted on the training rows, scored like the fusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polymodal.data.dataset import EncodedData
from polymodal.data.schema import TaskKind
from polymodal.evaluation.baseline import baseline_features, best_baseline, classical_baseline, modality_features


def test_features_of_each_kind() -> None:
    image = torch.rand(3, 1, 16, 16)
    pooled = modality_features(image, {"kind": "image", "channels": 1, "height": 16, "width": 16})
    assert pooled.shape == (3, 64)
    assert pooled[0, 0] == pytest.approx(float(image[0, 0, :2, :2].mean()))
    assert modality_features(torch.rand(3, 1, 6, 6), {"kind": "image"}).shape == (3, 36)  # no upsampling
    assert modality_features(torch.randn(3, 1, 40, 25), {"kind": "audio"}).shape == (3, 26)  # 13 MFCC x mean, std
    tokens = torch.tensor([[2, 3, 3, 0], [4, 0, 0, 0]])
    tfidf = modality_features(tokens, {"kind": "text", "vocab_size": 6})
    assert tfidf.shape == (2, 6) and tfidf[0, 0] == 0 and tfidf[0, 3] > tfidf[0, 2] > 0 and tfidf[1, 4] == 1
    tabular = torch.tensor([[0.5, 2.0], [-1.0, 1.0]])
    one_hot = modality_features(tabular, {"kind": "tabular", "n_numeric": 1, "cardinalities": [3]})
    assert one_hot.tolist() == [[0.5, 0, 0, 1], [-1.0, 0, 1, 0]]
    assert modality_features(torch.ones(2, 5), {"kind": "image", "pretrained": "minilm"}).shape == (2, 5)


def _data(n: int = 300, seed: int = 0) -> tuple[EncodedData, torch.Tensor]:
    rng = np.random.default_rng(seed)
    y = torch.as_tensor(rng.integers(0, 3, n))
    a = torch.randn(n, 4) + torch.nn.functional.one_hot(y, 4)[:, :4].float() * 3
    b = torch.randn(n, 1, 8, 8) + y.float()[:, None, None, None]
    masks = {"a": torch.ones(n, dtype=torch.bool), "b": torch.as_tensor(rng.random(n) > 0.2)}
    return EncodedData({"a": a, "b": b}, masks, {"y": y, "r": (y.float() * 2 + 0.1 * torch.randn(n))[:, None]},
                       np.arange(n)), y


INFO = {"a": {"kind": "vector", "dim": 4}, "b": {"kind": "image", "channels": 1, "height": 8, "width": 8}}


def test_a_missing_modality_gives_zeros_and_an_indicator() -> None:
    data, _ = _data()
    features = baseline_features(data, INFO)
    assert features.shape == (300, 4 + 64 + 1)  # a is always present: no indicator for it
    absent = ~data.masks["b"].numpy()
    assert (features[absent, 4:68] == 0).all() and (features[:, 68] == (~absent)).all()


def test_the_baseline_learns_and_is_scored_on_the_held_out_rows() -> None:
    data, y = _data()
    splits = {"train": np.arange(200), "val": np.arange(200, 250), "test": np.arange(250, 300)}
    targets = {"y": (TaskKind.MULTICLASS, 3), "r": (TaskKind.REGRESSION, 1)}
    out = classical_baseline(data, INFO, targets, splits, seed=0, regression_scale={"r": (10.0, 2.0)})
    for model in ("logistic", "gradient_boosting"):
        assert set(out[model]) == {"validation", "test", "fit_seconds"}
        assert out[model]["test"]["y"]["accuracy"] > 0.8 and out[model]["validation"]["y"]["auroc"] > 0.9
        assert out[model]["test"]["r"]["r2"] > 0.5  # chance is 0
    hand = classical_baseline(data, INFO, {"y": targets["y"]}, {"train": splits["train"], "test": splits["test"]},
                              models=("logistic",))
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = baseline_features(data, INFO)
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x[:200], y[:200].numpy())
    expected = float((reference.predict(x[250:]) == y[250:].numpy()).mean())
    assert hand["logistic"]["test"]["y"]["accuracy"] == pytest.approx(expected)
    again = classical_baseline(data, INFO, {"y": targets["y"]}, {"train": splits["train"], "test": splits["test"]},
                               models=("logistic",))
    assert again == hand  # the same rows and features in one process: fitted once


def test_a_class_missing_from_the_training_rows_still_scores() -> None:
    data, y = _data()
    train = np.flatnonzero(y.numpy() != 2)[:150]
    out = classical_baseline(data, INFO, {"y": (TaskKind.MULTICLASS, 3)}, {"train": train, "val": np.arange(250, 300)},
                             models=("logistic",))
    assert 0 < out["logistic"]["validation"]["y"]["accuracy"] < 1


def test_best_baseline_respects_the_metric_direction() -> None:
    scores = {"logistic": {"test": {"y": {"accuracy": 0.8, "rmse": 2.0}}},
              "gradient_boosting": {"test": {"y": {"accuracy": 0.9, "rmse": 3.0}}, "fit_seconds": 1.0}}
    assert best_baseline(scores, "test", "y", "accuracy") == ("gradient_boosting", 0.9)
    assert best_baseline(scores, "test", "y", "rmse") == ("logistic", 2.0)
    assert best_baseline(scores, "validation", "y", "accuracy") is None


def test_too_few_training_rows_never_stop_the_fit() -> None:
    data, y = _data(n=40)
    labels = y.numpy()
    train = np.concatenate([np.flatnonzero(labels == c)[:3] for c in range(3)])  # 3 rows a class
    out = classical_baseline(data, INFO, {"y": (TaskKind.MULTICLASS, 3)}, {"train": train, "val": np.arange(30, 40)})
    for model in ("logistic", "gradient_boosting"):  # no early-stopping split of 9 rows: both fit and score
        assert "errors" not in out[model] and 0 <= out[model]["validation"]["y"]["accuracy"] <= 1


def test_the_baseline_is_cached_on_disk_once_per_features_targets_and_rows(tmp_path, monkeypatch) -> None:
    from polymodal.cache import cache_info, clear_cache
    from polymodal.evaluation import baseline

    data, _ = _data()
    splits = {"train": np.arange(200), "test": np.arange(250, 300)}
    target = {"y": (TaskKind.MULTICLASS, 3)}
    first = classical_baseline(data, INFO, target, splits, models=("logistic",), cache_dir=tmp_path)
    [namespace] = cache_info(tmp_path)
    assert namespace.name == baseline.CACHE_NAMESPACE and namespace.entries == 1
    monkeypatch.setattr(baseline, "_MEMO", {})  # a new process
    monkeypatch.setattr(baseline, "_estimator", lambda *a: pytest.fail("refitted although cached"))
    again = classical_baseline(data, INFO, target, splits, models=("logistic",), cache_dir=tmp_path)
    assert again["logistic"].pop("cached") is True and again == first
    # other rows are another entry
    monkeypatch.undo()
    monkeypatch.setattr(baseline, "_MEMO", {})
    classical_baseline(data, INFO, target, {**splits, "train": np.arange(190)}, models=("logistic",),
                       cache_dir=tmp_path)
    assert cache_info(tmp_path)[0].entries == 2
    # a damaged entry is refitted and replaced
    for entry in (tmp_path / baseline.CACHE_NAMESPACE).glob("*.json"):
        if entry.name != "meta.json":
            entry.write_text("{half")
    monkeypatch.setattr(baseline, "_MEMO", {})
    assert "cached" not in classical_baseline(data, INFO, target, splits, models=("logistic",),
                                              cache_dir=tmp_path)["logistic"]
    assert clear_cache(tmp_path).removed == (baseline.CACHE_NAMESPACE,)


def test_no_baseline_on_disk_when_the_cache_is_off(tmp_path, monkeypatch) -> None:
    from polymodal.evaluation import baseline

    monkeypatch.setenv("POLYMODAL_CACHE", "off")
    monkeypatch.chdir(tmp_path)
    data, _ = _data()
    out = classical_baseline(data, INFO, {"y": (TaskKind.MULTICLASS, 3)},
                             {"train": np.arange(100), "test": np.arange(250, 300)}, models=("logistic",))
    assert "test" in out["logistic"] and baseline._store(None) is None and list(tmp_path.iterdir()) == []
