"""``polymodal demo``: every run, the results table, the bundles and the report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import polymodal
from polymodal.cli import main


def test_demo_writes_results_models_and_report(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    results = pd.read_csv(out / "results.csv")
    assert list(results["method"]) == ["early fusion", "concat fusion", "late fusion", "rotated only", "noisy only"]
    assert results["accuracy"].between(0, 1).all() and (results["train_seconds"] > 0).all()
    report = out / "report.html"
    assert report.exists() and f"report: {report}" in printed.replace("\n", "")
    page = report.read_text()
    assert page.count("data:image/png;base64,") >= 5 and "<h2>Best run</h2>" in page
    runs = pd.read_csv(out / "runs.csv")
    assert "missing_rotated_digit_accuracy" in runs and runs["status"].eq("ok").all()
    assert len(polymodal.load(out / "models" / "concat-fusion").predict(out / "data" / "demo_table.csv")) == 1797
