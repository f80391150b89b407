"""The classical baseline: a scikit-learn model on simple features of the same rows as the fusion.

Every deep result is worth only what it adds over the obvious model, so :func:`classical_baseline` fits,
on the training rows a fit used, logistic regression (ridge for regression) and a histogram gradient-boosted
model on simple features of each modality, and scores both on the same validation and test rows with the
same metrics as the fusion:

- images: the pixels, average-pooled to at most an 8x8 grid per channel;
- audio: MFCC statistics (mean and standard deviation over time of 13 cepstral coefficients of the
  log-mel spectrogram the pipeline computes);
- text: TF-IDF of the pipeline's word tokens;
- tabular values: the preprocessed numeric values and one-hot categories;
- vectors and frozen pretrained embeddings: as they are.

A missing modality of a row gives zeros plus an indicator column. The features are built from the
pipeline's encoded tensors, so the baseline sees exactly the rows and the preprocessing fitted on the
training rows that the fusion saw (nothing of the validation or test rows is used to fit it).

Example
-------
>>> import numpy as np, torch
>>> from polymodal.cache import default_cache_dir
from polymodal.cache.results import ResultStore
from polymodal.data.dataset import EncodedData
>>> from polymodal.data.schema import TaskKind
>>> rng = np.random.default_rng(0)
>>> y = torch.as_tensor(rng.integers(0, 2, 200))
>>> x = torch.randn(200, 4) + y[:, None].float() * 2
>>> data = EncodedData({"v": x}, {"v": torch.ones(200, dtype=torch.bool)}, {"t": y}, np.arange(200))
>>> info = {"v": {"kind": "vector", "dim": 4}}
>>> out = classical_baseline(data, info, {"t": (TaskKind.MULTICLASS, 2)},
...                          {"train": np.arange(150), "val": np.arange(150, 200)}, models=("logistic",))
>>> out["logistic"]["validation"]["t"]["accuracy"] > 0.8
True
"""

from __future__ import annotations

import copy
import hashlib
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.fft import dct
from torch import Tensor

from polymodal.cache import default_cache_dir
from polymodal.cache.results import ResultStore
from polymodal.data.dataset import EncodedData
from polymodal.data.schema import TaskKind
from polymodal.evaluation.metrics import build_metrics, higher_is_better

MODELS = ("logistic", "gradient_boosting")
CACHE_NAMESPACE = "baseline-v1"  # a new version when what the baseline computes changes
IMAGE_GRID = 8
N_MFCC = 13


def modality_features(x: Tensor, info: Mapping[str, Any]) -> np.ndarray:
    """Simple features ``[N, F]`` of one modality's encoded tensor (see the module docstring)."""
    kind = str(info.get("kind"))
    if "pretrained" in info or (x.dim() == 2 and kind == "vector"):
        return x.float().numpy()
    if kind == "image" and x.dim() == 4:
        grid = (min(IMAGE_GRID, x.shape[-2]), min(IMAGE_GRID, x.shape[-1]))
        return F.adaptive_avg_pool2d(x.float(), grid).flatten(1).numpy()
    if kind == "audio":
        spec = x.float().reshape(x.shape[0], -1, x.shape[-1]).numpy()  # [N, n_mels, frames]
        mfcc = dct(spec, type=2, axis=1, norm="ortho")[:, :N_MFCC]
        return np.concatenate([mfcc.mean(axis=2), mfcc.std(axis=2)], axis=1)
    if kind == "text":
        return _tfidf(x.long(), int(info.get("vocab_size", int(x.max()) + 1)))
    if kind == "tabular":
        n_numeric = int(info.get("n_numeric", 0))
        parts = [x[:, :n_numeric].float().numpy()]
        for j, cardinality in enumerate(info.get("cardinalities", [])):
            codes = x[:, n_numeric + j].round().long().clamp(0, int(cardinality) - 1)
            parts.append(F.one_hot(codes, int(cardinality)).float().numpy())
        return np.concatenate(parts, axis=1)
    return x.float().flatten(1).numpy()


def _tfidf(tokens: Tensor, vocab_size: int) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfTransformer

    counts = torch.zeros(tokens.shape[0], vocab_size)
    counts.scatter_add_(1, tokens.clamp(0, vocab_size - 1), torch.ones_like(tokens, dtype=torch.float32))
    counts[:, 0] = 0  # padding
    dense: np.ndarray = TfidfTransformer().fit_transform(counts.numpy()).toarray()
    return dense.astype(np.float32)


def baseline_features(data: EncodedData, input_info: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
    """Every modality's features side by side (in name order), zeros and an indicator where missing."""
    parts = []
    for name in sorted(data.inputs):
        feats = modality_features(data.inputs[name], input_info[name])
        present = data.masks[name].numpy().astype(np.float32)
        parts.append(feats * present[:, None])
        if present.min() < 1:
            parts.append(present[:, None])
    return np.concatenate(parts, axis=1).astype(np.float32)


EARLY_STOPPING_ROWS = 500  # gradient boosting holds out 10% of the training rows to stop early above this


def _estimator(model: str, task: TaskKind, seed: int, n_train: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "logistic":
        if task is TaskKind.REGRESSION:
            return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
        linear = LogisticRegression(max_iter=2000)
        return make_pipeline(StandardScaler(), OneVsRestClassifier(linear) if task is TaskKind.MULTILABEL else linear)
    if model == "gradient_boosting":
        # early stopping on 10% of the training rows: as good, and several times cheaper on small tables
        boosting = {"early_stopping": n_train >= EARLY_STOPPING_ROWS, "random_state": seed}
        if task is TaskKind.REGRESSION:
            return HistGradientBoostingRegressor(**boosting)
        if task is TaskKind.MULTILABEL:
            return OneVsRestClassifier(HistGradientBoostingClassifier(**boosting))
        return HistGradientBoostingClassifier(**boosting)
    raise ValueError(f"unknown baseline model {model!r}; valid: {', '.join(MODELS)}")


def _scores(estimator: Any, task: TaskKind, n_outputs: int, x: np.ndarray, y: Tensor,
            scale: tuple[float, float]) -> dict[str, float]:
    metrics = build_metrics(task, n_outputs)
    if task is TaskKind.REGRESSION:
        mean, std = scale
        preds = torch.as_tensor(estimator.predict(x), dtype=torch.float32) * std + mean
        metrics.update(preds, y.squeeze(-1).float() * std + mean)
    else:
        proba = np.asarray(estimator.predict_proba(x), dtype=np.float32)
        if task is not TaskKind.MULTILABEL:  # a class absent from the training rows has probability 0
            width = 2 if task is TaskKind.BINARY else n_outputs
            full = np.zeros((len(x), width), dtype=np.float32)
            full[:, np.asarray(estimator.classes_, dtype=np.int64)] = proba
            proba = full
        probs = torch.as_tensor(proba)
        target = y.squeeze(-1).long() if task is not TaskKind.MULTILABEL else y.long()
        metrics.update(probs, target)
    return {k: float(v) for k, v in metrics.compute().items()}


def _labels(task: TaskKind, y: Tensor) -> np.ndarray:
    if task is TaskKind.REGRESSION:
        return y.squeeze(-1).float().numpy()
    if task is TaskKind.MULTILABEL:
        return y.long().numpy()
    return y.squeeze(-1).long().numpy()


def classical_baseline(
    data: EncodedData,
    input_info: Mapping[str, Mapping[str, Any]],
    targets: Mapping[str, tuple[TaskKind, int]],
    splits: Mapping[str, np.ndarray],
    models: Sequence[str] = MODELS,
    seed: int = 0,
    regression_scale: Mapping[str, tuple[float, float]] | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Fit each of ``models`` on ``splits["train"]`` and score it on the other splits.

    The result is computed once per features, targets and rows: kept in this process and in the cache
    folder (``cache_dir``, else ``$POLYMODAL_CACHE`` or ``~/.cache/polymodal``; ``POLYMODAL_CACHE=off``
    keeps it in this process only), under a digest of the features, the targets, the rows of each split,
    the models, the seed and the scikit-learn version. A result read from the disk has ``"cached": True``.

    ``targets`` maps each target to its task and number of classes (labels for multilabel);
    ``regression_scale`` gives ``(mean, std)`` to report regression errors in the target's units.
    Returns ``{model: {"validation"|"test": {target: {metric: value}}, "fit_seconds": s}}`` (split names
    as :func:`polymodal.engine.fit.fit` reports them); a split with no rows is left out, and a target the
    model could not be fitted on (too few rows of a class, say) is named under ``"errors"`` instead.
    """
    features = baseline_features(data, input_info)
    train = np.asarray(splits["train"])
    key = _memo_key(features, data, targets, splits, models, (seed, dict(regression_scale or {})))
    if key in _MEMO:
        return copy.deepcopy(_MEMO[key])
    store = _store(cache_dir)
    stored = store.get(key) if store is not None else None
    if isinstance(stored, dict) and set(stored) == set(models):
        _remember(key, stored)
        return {model: {**result, "cached": True} for model, result in stored.items()}
    out: dict[str, Any] = {}
    for model in models:
        start = time.perf_counter()
        result: dict[str, Any] = {}
        for target, (task, n_outputs) in targets.items():
            y = data.targets[target]
            labels = _labels(task, y[torch.as_tensor(train)])
            if task is not TaskKind.REGRESSION and len(np.unique(labels if labels.ndim == 1 else labels.argmax(1))) < 2:
                continue  # nothing to learn from one class; the fit itself reports that
            try:
                estimator = _estimator(model, task, seed, len(train)).fit(features[train], labels)
            except ValueError as exc:  # e.g. too few rows of a class: the baseline is left out, the fit goes on
                result.setdefault("errors", {})[target] = f"{type(exc).__name__}: {exc}"
                continue
            scale = (regression_scale or {}).get(target, (0.0, 1.0))
            for split, name in (("val", "validation"), ("test", "test")):
                rows = np.asarray(splits.get(split, np.empty(0, dtype=np.int64)))
                if len(rows):
                    result.setdefault(name, {})[target] = _scores(
                        estimator, task, n_outputs, features[rows], y[torch.as_tensor(rows)], scale)
        result["fit_seconds"] = time.perf_counter() - start
        out[model] = result
    _remember(key, out)
    if store is not None:
        try:
            store.put(key, out)
        except OSError as exc:  # a read-only or full cache folder costs the next run a refit, nothing more
            warnings.warn(f"could not cache the classical baseline in {store.path}: {exc}", stacklevel=2)
    return out


def _remember(key: str, out: dict[str, Any]) -> None:
    _MEMO[key] = copy.deepcopy(out)
    while len(_MEMO) > MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))


def _store(cache_dir: str | Path | None) -> ResultStore | None:
    """The baseline's namespace of the cache folder (``cache_dir``, else the environment's), or None when
    the cache is turned off (``POLYMODAL_CACHE=off``) or cannot be created."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if root is None:
        return None
    try:
        return ResultStore(root, CACHE_NAMESPACE, {"what": "the classical baseline (polymodal.evaluation.baseline)",
                                                   "scikit-learn": sklearn_version()})
    except OSError as exc:
        warnings.warn(f"the classical baseline is not cached: {exc}", stacklevel=3)
        return None


def sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


# fits of one process on the same features, targets and rows (the fusions of a sweep) share one baseline
MEMO_SIZE = 32
_MEMO: dict[str, dict[str, Any]] = {}


def _memo_key(features: np.ndarray, data: EncodedData, targets: Mapping[str, tuple[TaskKind, int]],
              splits: Mapping[str, np.ndarray], models: Sequence[str], extra: Any) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(features).tobytes())
    for name in sorted(targets):
        digest.update(name.encode() + str(targets[name]).encode())
        digest.update(data.targets[name].numpy().tobytes())
    for split in sorted(splits):
        digest.update(split.encode() + np.asarray(splits[split], dtype=np.int64).tobytes())
    digest.update(repr((CACHE_NAMESPACE, tuple(models), extra, sklearn_version())).encode())
    return digest.hexdigest()


def best_baseline(baselines: Mapping[str, Any], split: str, target: str, metric: str) -> tuple[str, float] | None:
    """The best of the baseline models on ``split``/``target``/``metric``: ``(model, value)``, or None."""
    scored = [(m, r[split][target][metric]) for m, r in baselines.items()
              if isinstance(r, Mapping) and metric in r.get(split, {}).get(target, {})]
    if not scored:
        return None
    pick = max if higher_is_better(metric) else min
    return pick(scored, key=lambda item: item[1])


__all__ = ["MODELS", "baseline_features", "best_baseline", "classical_baseline", "modality_features"]
