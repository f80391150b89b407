"""The HTML report: self-contained, every section drawn, and rendered by a real headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from polymodal.bench.report import lower_is_better, write_report
from polymodal.bench.run import summarize

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def fake_sweep(tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """Runs of three methods x two seeds with artifacts, as the runner writes them (no training)."""
    rng = np.random.default_rng(0)
    artifacts = tmp_path / "artifacts"
    rows = []
    for seed in (0, 1):
        for i, method in enumerate(("early", "concat", "late")):
            key = f"{method}-{seed}"
            acc = 0.7 + 0.1 * i + 0.01 * seed
            rows.append({"method": method, "dataset": "toy", "seed": seed, "key": key, "status": "ok", "error": "",
                         "test_y_accuracy": acc, "test_y_macro_f1": acc - 0.02, "missing_a_y_accuracy": acc - 0.3,
                         "missing_b_y_accuracy": acc - 0.2, "train_seconds": 3.0 + i, "parameters": 1000 * (i + 1),
                         "samples_per_second": 500.0, "peak_rss_mb": 600.0})
            folder = artifacts / key
            folder.mkdir(parents=True)
            pd.DataFrame({"epoch": [0, 1, 2], "train_loss": [2.0, 1.0, 0.5], "val_loss": [2.1, 1.2, 0.9]}).to_csv(
                folder / "history.csv", index=False)
            labels = rng.integers(0, 3, 60)
            preds = np.where(rng.random(60) < acc, labels, (labels + 1) % 3)
            pd.DataFrame({"row": range(60), "y_true": labels, "y_pred": preds}).to_csv(folder / "predictions.csv",
                                                                                         index=False)
            pd.DataFrame({"x": rng.normal(size=60), "y": rng.normal(size=60), "label": labels}).to_csv(
                folder / "embedding.csv", index=False)
    rows.append({"method": "broken", "dataset": "toy", "seed": 0, "key": "broken-0", "status": "error",
                 "error": "ValueError: something went wrong"})
    runs = pd.DataFrame(rows)
    return runs, summarize(runs, ["dataset", "method"]), artifacts


def robustness_frame() -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "corruption": "gaussian_noise", "modality": "a", "level": lv, "seed": 0,
                          "test_y_accuracy": 0.9 - lv * (0.5 if m == "late" else 0.3)}
                         for m in ("concat", "late") for lv in (0.0, 0.5, 1.0)])


@pytest.fixture
def report(tmp_path: Path) -> Path:
    runs, summary, artifacts = fake_sweep(tmp_path)
    return write_report(tmp_path / "report.html", runs, summary, metric="test_y_accuracy", artifacts=artifacts,
                        robustness=robustness_frame(), title="toy sweep")


def test_lower_is_better() -> None:
    assert lower_is_better("test_y_rmse") and lower_is_better("train_seconds")
    assert not lower_is_better("test_y_accuracy")


def test_report_is_self_contained_with_every_section(report: Path) -> None:
    page = report.read_text()
    for heading in ("Results", "Comparison", "Robustness", "Best run", "Training", "Failed runs"):
        assert f"<h2>{heading}</h2>" in page
    assert page.count("data:image/png;base64,") == 7
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from the web
    assert "best run: late, seed 1" in page  # the confusion matrix of the best run
    assert "ValueError: something went wrong" in page


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`; .ci/run installs it)")
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    run = subprocess.run([CHROMIUM, *BROWSER_FLAGS, "--window-size=1200,2400", f"--screenshot={shot}",
                          "--enable-logging=stderr", "--v=0", report.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert shot.exists(), run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    image = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert image.std() > 10  # not a blank page
    assert (image < 128).mean() > 0.01  # dark ink: text, axes and bars were drawn
    dom = subprocess.run([CHROMIUM, *BROWSER_FLAGS, "--dump-dom", report.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dom[:500]
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    assert attrs == {"images": "7", "images-ok": "7", "errors": "0"}
    assert dom.count("<tr>") >= 4  # the results table rendered its rows


def test_user_strings_are_escaped_and_never_mathtext(tmp_path: Path) -> None:
    """Method names, errors and the title are the user's: HTML-escaped in the page, drawn as they are in plots."""
    runs, _, artifacts = fake_sweep(tmp_path)
    names = {"early": "<script>alert(1)</script>", "concat": "a$\\x^$b", "late": "$\\frac{"}
    runs["method"] = runs["method"].replace(names)
    runs.loc[runs["method"] == "broken", "error"] = "<img src=x onerror=alert(1)>"
    robustness = robustness_frame()
    robustness["method"] = robustness["method"].replace(names)
    path = write_report(tmp_path / "report.html", runs, summarize(runs, ["dataset", "method"]),
                        metric="test_y_accuracy", artifacts=artifacts, robustness=robustness, title="<b>sweep</b>")
    page = path.read_text()
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>sweep" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<h1>&lt;b&gt;sweep&lt;/b&gt;</h1>" in page and "a$\\x^$b" in page
    assert page.count("data:image/png;base64,") == 7  # every plot drawn, '$' names included


def test_the_classical_baseline_is_shown_beside_each_method(tmp_path: Path) -> None:
    from polymodal.bench.report import baseline_table

    runs, summary, artifacts = fake_sweep(tmp_path)
    runs["baseline_logistic_test_y_accuracy"] = 0.75
    runs["baseline_gradient_boosting_test_y_accuracy"] = np.where(runs["seed"] == 0, 0.78, 0.80)
    table = baseline_table(runs, "test_y_accuracy").set_index("method")
    assert table.loc["late", "gradient_boosting"] == pytest.approx(0.79)
    assert table.loc["late", "vs_baseline"] == pytest.approx(0.905 - 0.79)
    assert table.loc["early", "vs_baseline"] == pytest.approx(0.705 - 0.79)
    page = write_report(tmp_path / "report.html", runs, summary, metric="test_y_accuracy",
                        artifacts=artifacts).read_text()
    assert "<h2>Classical baseline</h2>" in page and "<td>0.1150</td>" in page
    assert baseline_table(runs.drop(columns=[c for c in runs if c.startswith("baseline_")]), "test_y_accuracy") is None
