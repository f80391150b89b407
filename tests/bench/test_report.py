"""The HTML report: self-contained, every section drawn, and rendered by a real headless browser."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from polymodal.bench.report import (
    bar_chart,
    best_run,
    robustness_chart,
    training_chart,
    write_report,
)
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
            pd.DataFrame({"epoch": [0, 1], "train_loss": [2.0, 1.0], "val_loss": [2.1, 1.2]}).to_csv(
                folder / "history.csv", index=False)  # two epochs: matplotlib's own ticks would be 0.2, 0.4 ...
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


SETTINGS = [("epochs (at most)", "6"), ("split column", "split"), ("ignored columns", "speaker"),
            ("preset", "medium (default)")]


@pytest.fixture
def report(tmp_path: Path) -> Path:
    runs, summary, artifacts = fake_sweep(tmp_path)
    return write_report(tmp_path / "report.html", runs, summary, metric="test_y_accuracy", artifacts=artifacts,
                        robustness=robustness_frame(), title="toy sweep", settings=SETTINGS)


def figure_axes(page: str) -> list[list[dict]]:
    """The tick labels each figure of the page drew (its ``data-axes``), figure by figure."""
    return [json.loads(html.unescape(v)) for v in re.findall(r'<figure data-axes="([^"]*)"', page)]


def chance(artifacts: Path, key: str) -> float:
    """The share of the most frequent class in a run's test labels, counted here."""
    labels = pd.read_csv(artifacts / key / "predictions.csv")["y_true"].tolist()
    return max(labels.count(v) for v in set(labels)) / len(labels)


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
    # what the browser shows: the settings, the chance level, and axes a reader can take in
    assert "<h2>Run settings</h2>" in dom and "<td>split column</td><td>split</td>" in dom
    assert "<td>ignored columns</td><td>speaker</td>" in dom and "<td>epochs (at most)</td><td>6</td>" in dom
    assert "Chance level: <b>" in dom and "dashed line: chance" in dom
    figures = figure_axes(dom)
    assert len(figures) == 7
    for axes in figures:
        for ax in axes:
            assert ax["x_offset"] == ax["y_offset"] == "", ax  # never "1e-9+1.03e-1" at an axis end
            assert all(re.fullmatch(rf"{MINUS}?[\d.,]+|.*[A-Za-z].*", t) for t in ax["x"] + ax["y"]), ax
    training = figures[-1][0]  # the last figure: training curves
    assert training["x"] == ["0", "1"]  # whole epochs only


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


MINUS = "\u2212"  # matplotlib's minus sign in tick labels


def test_axes_have_no_offset_whole_epochs_and_bars_from_zero() -> None:
    flat = pd.DataFrame([{"method": "m", "corruption": "noise", "modality": "a", "level": lv, "seed": 0,
                          "test_y_rmse": 0.1033333333 + 1e-10 * lv} for lv in (0.0, 0.5, 1.0)])
    (ax,) = robustness_chart(flat, "test_y_rmse").axes
    assert ax["y_offset"] == "" and len(set(ax["y"])) == len(ax["y"]) > 1  # distinct plain labels, no offset
    assert all(float(t.replace(MINUS, "-")) == pytest.approx(0.1033, abs=0.06) for t in ax["y"])
    history = {"m": pd.DataFrame({"epoch": [0, 1], "val_loss": [1.0, 0.5], "train_loss": [1.2, 0.6]})}
    assert training_chart(history).axes[0]["x"] == ["0", "1"]
    summary = pd.DataFrame({"method": ["a", "b"], "test_y_accuracy_mean": [0.90, 0.91],
                            "test_y_accuracy_std": [0.0, 0.01]})
    (bars,) = bar_chart(summary, "test_y_accuracy", chance=0.4).axes  # from 0 to 1, not zoomed on the bar tops
    assert bars["y"][0] == "0.0" and bars["y"][-1] == "1.0"


def test_chance_level_one_class_runs_ties_and_tracebacks(tmp_path: Path) -> None:
    """What misleads at small scale is said: the chance level, a run predicting one class for every row, a
    best run picked among exact ties; a failed run's traceback keeps its lines, escaped."""
    runs, summary, artifacts = fake_sweep(tmp_path)
    constant = pd.read_csv(artifacts / "late-1" / "predictions.csv").assign(y_pred=2)
    constant.to_csv(artifacts / "late-1" / "predictions.csv", index=False)
    top = runs["test_y_accuracy"].max()  # late, seed 1
    runs.loc[runs["key"].isin(["concat-1", "late-0"]), "test_y_accuracy"] = top
    error = ('ValueError: rank must be positive, got 0\nTraceback (most recent call last):\n  File "<run>", line 3, '
             "in <module>\n    fit(a < b)\nValueError: rank must be positive, got 0")
    runs.loc[runs["method"] == "broken", "error"] = error
    page = write_report(tmp_path / "r.html", runs, summary, metric="test_y_accuracy", artifacts=artifacts).read_text()
    assert f"Chance level: <b>{chance(artifacts, 'early-0'):.4f}</b>, the accuracy of always predicting" in page
    assert "<h2>Warnings</h2>" in page and page.count("<li>") == 1  # the other runs predict several classes
    assert ("late (seed 1) predicts &#x27;2&#x27; for every one of the 60 test rows: it has not learned to tell "
            "the y classes apart") in page
    assert ("The best run by test_y_accuracy: late, seed 0 (0.9100). 3 runs tie exactly at this value (also concat "
            "(seed 1), late (seed 1)): the first of them in grid order is shown") in page
    assert "best run: late, seed 0" in page
    assert "<summary>broken · seed 0: ValueError: rank must be positive, got 0</summary>" in page
    assert f"<pre>{html.escape(error)}</pre>" in page and "\n  File &quot;&lt;run&gt;&quot;, line 3, in " in page


def test_no_tie_is_named_when_there_is_none(tmp_path: Path) -> None:
    runs, _, _ = fake_sweep(tmp_path)
    best, tied = best_run(runs[runs["status"] == "ok"], "test_y_accuracy")
    assert (best["key"], len(tied)) == ("late-1", 1)
    runs.loc[runs["key"] == "late-0", "test_y_accuracy"] = best["test_y_accuracy"]
    best, tied = best_run(runs[runs["status"] == "ok"], "test_y_accuracy")
    assert best["key"] == "late-0" and list(tied["key"]) == ["late-0", "late-1"]  # grid order among ties


def write_fake_explanation(folder: Path) -> None:
    """An explain.json (as polymodal.bench.run.write_contribution writes it) with one heat map, in ``folder``."""
    (folder / "heatmaps").mkdir(parents=True)
    pixels = (np.arange(64 * 64).reshape(64, 64) % 255).astype(np.uint8)
    Image.fromarray(pixels).save(folder / "heatmaps" / "a-row0.png")
    json_text = json.dumps({"rows": 60, "contributions": [{
        "target": "y", "metric": "accuracy", "modalities": ["a", "b"], "full": 0.9, "empty": 0.3,
        "shapley": {"a": 0.45, "b": 0.15}, "single": {"a": 0.8, "b": 0.5}, "leave_one_out": {"a": 0.5, "b": 0.8},
        "method": "exact"}], "column_importance": [],
        "integrated_gradients": {"items": [{"modality": "a", "row": 0, "heatmap": "heatmaps/a-row0.png"}],
                                 "skipped": {"b": "tabular inputs are not attributed"}}})
    (folder / "explain.json").write_text(json_text)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`; .ci/run installs it)")
def test_the_best_runs_modality_contribution_section_renders(tmp_path: Path) -> None:
    runs, summary, artifacts = fake_sweep(tmp_path)
    write_fake_explanation(artifacts / "late-1" / "explain")  # late, seed 1: the best run
    write_fake_explanation(artifacts / "early-0" / "explain")  # another run's: not shown
    path = write_report(tmp_path / "report.html", runs, summary, metric="test_y_accuracy", artifacts=artifacts)
    dom = subprocess.run([CHROMIUM, *BROWSER_FLAGS, "--dump-dom", path.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert dom.count("<h2>Modality contribution</h2>") == 1
    section = dom[dom.index("<h2>Modality contribution</h2>"):]
    assert "The best run (late, seed 1), on the 60 test rows" in section
    assert "<td>a</td><td>0.4500</td><td>0.8000</td><td>0.5000</td>" in section
    assert "score with every modality (0.9000) minus the score with none (0.3000)" in section
    assert "a, row 0: integrated gradients" in section and "No integrated gradients for b" in section
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', re.search(r"<body([^>]*)>", dom).group(1)))
    assert attrs == {"images": "8", "images-ok": "8", "errors": "0"}  # 6 without the section, its chart and heat map
