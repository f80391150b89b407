"""benchmarks/noisy_mnist_deep.py on a tiny synthetic two-view set (8x8 digits), and its --quick run on MNIST."""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from sklearn.datasets import load_digits

from polymodal.datasets import make_noisy_two_view

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script as a module (it imports its sibling noisy_mnist_multiview, as when run from the repository)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("noisy_mnist_deep")


def _splits() -> tuple:
    digits = load_digits()
    v1, v2 = make_noisy_two_view(digits.images / 16.0, digits.target, seed=0)
    x1, x2, y = v1.reshape(len(v1), -1), v2.reshape(len(v2), -1), digits.target.astype(np.int64)
    cuts = [(0, 1000), (1000, 1400), (1400, len(y))]
    return tuple((x1[a:b], x2[a:b], y[a:b]) for a, b in cuts)


def test_deep_cca_features_beat_chance_and_the_results_are_written(bench: ModuleType, tmp_path: Path) -> None:
    train, val, test = _splits()
    settings = {name: dataclasses.replace(s, epochs=6, batch_size=100, hidden_dim=32)
                for name, s in bench.SETTINGS.items()}
    written: list[int] = []
    results = bench.run(train, val, test, settings, on_row=lambda r: written.append(len(r["methods"])))
    assert written == [1, 2, 3]  # saved after every row
    assert list(results["methods"]) == ["CCA", "DCCA", "DCCAE"]
    for name in ("DCCA", "DCCAE"):
        row = results["methods"][name]
        assert row["svm_test_error"] < 0.5, f"{name}: 10 classes, chance is 0.9"  # ~0.27 / ~0.44 after 6 epochs
        assert 0 < row["clustering"]["nmi"] <= 1 and row["chosen"]["epochs_run"] == 6
        assert 0 < row["chosen"]["val_correlation"] <= bench.LATENT_DIM
    bench.write_results(results, tmp_path)
    saved = json.loads((tmp_path / "noisy_mnist_deep.json").read_text())
    assert saved["methods"]["DCCA"]["svm_test_error"] == results["methods"]["DCCA"]["svm_test_error"]
    table = (tmp_path / "noisy_mnist_deep.md").read_text()
    assert "| DCCAE | 10 |" in table and "| 6 (" in table and "activation=sigmoid" in table
    _check_merge(bench, results, tmp_path)


def _check_merge(bench: ModuleType, results: dict, tmp_path: Path) -> None:
    """Rows measured by separate runs (one per method, side by side) merge into one results file."""
    cca, deep = tmp_path / "cca", tmp_path / "deep"
    bench.write_results({**results, "methods": {"CCA": results["methods"]["CCA"]}}, cca)
    bench.write_results({**results, "methods": {k: results["methods"][k] for k in ("DCCA", "DCCAE")}}, deep)
    merged = bench.merge_results(cca, [deep / "noisy_mnist_deep.json"])
    assert list(merged["methods"]) == ["CCA", "DCCA", "DCCAE"] and len(merged["runs"]) == 2
    assert "| DCCA | 10 |" in (cca / "noisy_mnist_deep.md").read_text()
    bench.write_results({**results, "n_train": 5}, deep)
    with pytest.raises(ValueError, match=r"was measured on \[5, 400, 397\] train / validation / test pairs"):
        bench.merge_results(cca, [deep / "noisy_mnist_deep.json"])


def test_the_paper_network_is_built_from_polymodal_classes(bench: ModuleType) -> None:
    model = bench.build_model(bench.SETTINGS["DCCAE"], 784)
    linears = [m for m in model.encoders["view1"].modules() if m.__class__.__name__ == "Linear"]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 1024), (1024, 1024), (1024, 1024),
                                                                   (1024, 10)]
    decoder = [m for m in model.decoders["view2"].modules() if m.__class__.__name__ == "Linear"]
    assert [m.out_features for m in decoder] == [1024, 1024, 1024, 784]


@pytest.mark.slow
@pytest.mark.data
def test_quick_run_on_mnist(bench: ModuleType, shared_data: Path, tmp_path: Path) -> None:
    results = bench.main(["--quick", "--data", str(shared_data), "--results", str(tmp_path), "--no-cca"])
    assert results["n_train"] == 2000 and set(results["methods"]) == {"DCCA", "DCCAE"}
    assert (tmp_path / "noisy_mnist_deep.md").exists()
