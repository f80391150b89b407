"""The HTML report of a benchmark: one self-contained file, every plot embedded, nothing from the web.

Sections (each drawn only when its data exists): warnings (a run that predicts one class for every test
row); the run settings; the results table with the chance level (always the most frequent test class);
a bar chart of the main metric with standard-deviation error bars; accuracy with each modality missing;
robustness curves; the confusion matrix of the best run (saying so when it is picked among exact ties);
training curves; a 2-D map of the best run's joint embeddings; the best run's modality contribution (Shapley
values of its modalities, each alone and left out, integrated gradients heat maps: ``polymodal explain``, when
the run has two or more modalities); cost against the main metric; failed runs
with their tracebacks; stale rows (from runs no longer in the grid). Plots are drawn with matplotlib (Agg)
and embedded as PNG data URIs; accuracy-like axes run from 0 to 1 with the chance level as a dashed line,
no axis uses an offset, epochs are whole numbers. Each ``<figure>`` records the tick labels it drew
(``data-axes``), so a check can read them without looking at pixels.

The page carries a small inline script that records, on ``<body>``, how many images decoded
(``data-images-ok`` / ``data-images``) and any script error (``data-errors``): a headless browser can
check that the report rendered without relying on screenshots alone.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polymodal.evaluation.metrics import lower_is_better
from polymodal.storage.atomic import atomic_write_text


def _figure(width: float = 6.4, height: float = 4.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    return fig, ax


@dataclass(frozen=True)
class Chart:
    """A drawn plot: its PNG data URI, and the tick labels of each of its axes as drawn (``x``, ``y``, and
    the offset text matplotlib would put at an axis end, ``x_offset``/``y_offset``: always empty here)."""

    uri: str
    axes: tuple[dict[str, Any], ...] = ()


def _png(fig: Any) -> Chart:
    """The figure as a PNG data URI. Labels are the user's (method, dataset, modality names): drawn as they
    are, never as mathtext, so ``$`` in a name cannot break the report. Axes are made readable first (see
    :func:`_readable`)."""
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        text.set_parse_math(False)
    for ax in fig.axes:
        _readable(ax)
    buffer = io.BytesIO()
    with matplotlib.rc_context({"text.parse_math": False}):  # tick labels made while drawing
        fig.tight_layout()
        fig.savefig(buffer, format="png")
    axes = tuple(_drawn_ticks(ax) for ax in fig.axes if ax.get_visible())
    plt.close(fig)
    return Chart("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), axes)


def _readable(ax: Any) -> None:
    """Tick labels a reader can take in: plain numbers (never an offset such as ``1e-9+1.03e-1``), and an
    axis whose values are (nearly) all equal widened around them instead of zoomed into float noise."""
    from matplotlib.ticker import ScalarFormatter

    for axis, get, set_ in ((ax.xaxis, ax.get_xlim, ax.set_xlim), (ax.yaxis, ax.get_ylim, ax.set_ylim)):
        formatter = axis.get_major_formatter()
        if isinstance(formatter, ScalarFormatter):
            formatter.set_useOffset(False)
        low, high = get()
        centre = (low + high) / 2
        if np.isfinite(centre) and abs(high - low) < 1e-6 * max(1.0, abs(centre)):
            pad = max(0.05 * abs(centre), 0.05)
            set_(centre - pad, centre + pad)


def _drawn_ticks(ax: Any) -> dict[str, Any]:
    """The tick labels of ``ax`` inside its view, as drawn (call after the figure was drawn)."""
    def labels(axis: Any, limits: tuple[float, float]) -> list[str]:
        low, high = sorted(limits)
        return [label.get_text() for loc, label in zip(axis.get_ticklocs(), axis.get_ticklabels(), strict=False)
                if low - 1e-9 * max(1.0, abs(high)) <= loc <= high + 1e-9 * max(1.0, abs(high)) and label.get_text()]

    return {"x": labels(ax.xaxis, ax.get_xlim()), "y": labels(ax.yaxis, ax.get_ylim()),
            "x_offset": ax.xaxis.get_offset_text().get_text(), "y_offset": ax.yaxis.get_offset_text().get_text()}


def _img(chart: Chart, alt: str) -> str:
    """A figure with its caption; ``data-axes`` records the tick labels drawn (for checks and screen readers)."""
    axes = html.escape(json.dumps(chart.axes), quote=True)
    return (f'<figure data-axes="{axes}"><img src="{chart.uri}" alt="{html.escape(alt)}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>")


BOUNDED = ("accuracy", "macro_f1", "f1", "auroc", "auc", "precision", "recall", "balanced_accuracy")


def bounded_metric(metric: str) -> bool:
    """Whether ``metric`` lies in [0, 1] (accuracy, F1, AUROC ...): its axis is then drawn from 0 to 1."""
    return metric.endswith(BOUNDED)


def _metric_axis(ax: Any, metric: str, chance: float | None = None) -> None:
    """A bounded metric's axis from 0 to 1, with the chance level as a labelled dashed line."""
    if bounded_metric(metric):
        ax.set_ylim(0.0, 1.0)
    if chance is not None:
        ax.axhline(chance, ls="--", lw=1.2, color="#C44E52", label=f"chance: most frequent class ({chance:.3f})")


def bar_chart(summary: pd.DataFrame, metric: str, chance: float | None = None) -> Chart:
    """The main metric per method, bars from 0 (to 1 for a bounded metric), with the chance level."""
    fig, ax = _figure(max(6.4, 0.55 * len(summary) + 2), 4.0)
    means, stds = summary[f"{metric}_mean"].to_numpy(float), summary[f"{metric}_std"].to_numpy(float)
    x = np.arange(len(summary))
    ax.bar(x, means, yerr=stds, capsize=4, color="#4C72B0")
    ax.set_xticks(x, summary["method"].astype(str), rotation=35, ha="right")
    ax.set_ylabel(metric)
    _metric_axis(ax, metric, chance)
    if chance is not None:
        ax.legend(fontsize=8, loc="upper right")
    ax.set_title(f"{metric}: mean ± std over seeds")
    return _png(fig)


def missing_chart(summary: pd.DataFrame, metric_suffix: str, chance: float | None = None) -> Chart | None:
    columns = [c for c in summary.columns if c.startswith("missing_") and c.endswith(f"{metric_suffix}_mean")]
    clean = f"test{metric_suffix}_mean"
    if not columns or clean not in summary:
        return None
    fig, ax = _figure(max(6.4, 0.7 * len(summary) + 2), 4.0)
    series = [("all present", clean)] + [(c[len("missing_"):].split("_")[0] + " missing", c) for c in columns]
    width = 0.8 / len(series)
    x = np.arange(len(summary))
    for i, (label, col) in enumerate(series):
        ax.bar(x + i * width - 0.4 + width / 2, summary[col].to_numpy(float), width, label=label)
    ax.set_xticks(x, summary["method"].astype(str), rotation=35, ha="right")
    ax.set_ylabel(metric_suffix.strip("_"))
    _metric_axis(ax, metric_suffix, chance)
    ax.legend(fontsize=8)
    ax.set_title("missing modalities at test time")
    return _png(fig)


def robustness_chart(robustness: pd.DataFrame, metric: str, chance: float | None = None) -> Chart | None:
    """``robustness``: columns method, corruption, modality, level and ``metric`` (one row per run and level)."""
    if robustness is None or robustness.empty or metric not in robustness:
        return None
    groups = list(robustness.groupby(["corruption", "modality"], sort=True))
    import matplotlib.pyplot as plt

    ncols = min(3, len(groups))
    nrows = -(-len(groups) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), dpi=110, squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    for ax, ((corruption, modality), part) in zip(axes.flat, groups, strict=False):
        for method, curve in part.groupby("method", sort=False):
            mean = curve.groupby("level")[metric].mean()
            ax.plot(mean.index, mean.to_numpy(), marker="o", label=str(method))
        ax.set_title(f"{corruption} on {modality}", fontsize=9)
        ax.set_xlabel("corruption level")
        ax.set_ylabel(metric)
        _metric_axis(ax, metric, chance)
    axes.flat[0].legend(fontsize=7)
    return _png(fig)


def robustness_summary(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean relative (and effective) robustness of the main metric per method, corruption and modality."""
    name = metric.split("_", 2)[-1] if metric.count("_") >= 2 else metric
    part = scores[scores["metric"] == name] if "metric" in scores else scores
    values = [c for c in ("relative_robustness", "effective_robustness") if c in part]
    table = part.groupby(["method", "corruption", "modality"], sort=False)[values].mean().reset_index()
    return table.rename(columns={"relative_robustness": f"relative robustness ({name})",
                                 "effective_robustness": "effective robustness (vs late)"})


def confusion_chart(predictions: pd.DataFrame, target: str, title: str) -> Chart | None:
    true_col, pred_col = f"{target}_true", f"{target}_pred"
    if true_col not in predictions or pred_col not in predictions:
        return None
    labels = sorted(set(predictions[true_col]) | set(predictions[pred_col]), key=_natural)
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(predictions[true_col], predictions[pred_col], strict=True):
        matrix[index[t], index[p]] += 1
    fig, ax = _figure(5.0, 4.4)
    im = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90 if len(labels) > 12 else 0)
    ax.set_yticks(range(len(labels)), labels)
    if len(labels) <= 15:
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _png(fig)


def _natural(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


def training_chart(histories: dict[str, pd.DataFrame]) -> Chart | None:
    histories = {k: v for k, v in histories.items() if "val_loss" in v}
    if not histories:
        return None
    fig, ax = _figure(6.4, 4.0)
    for method, history in histories.items():
        line = ax.plot(history["epoch"], history["val_loss"], marker=".", label=f"{method}")
        if "train_loss" in history:
            ax.plot(history["epoch"], history["train_loss"], ls="--", color=line[0].get_color(), alpha=0.6)
    ax.set_xlabel("epoch")
    integer_ticks(ax.xaxis)
    ax.set_ylabel("loss (solid: validation, dashed: training)")
    ax.legend(fontsize=7)
    ax.set_title("training curves (first seed)")
    return _png(fig)


def integer_ticks(axis: Any) -> None:
    """Ticks at whole numbers only (epochs, trials): never 0.25 or 2.5."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def embedding_chart(embedding: pd.DataFrame, title: str) -> Chart | None:
    if embedding is None or embedding.empty:
        return None
    fig, ax = _figure(5.6, 4.6)
    labels = sorted(embedding["label"].astype(str).unique(), key=_natural)
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    for i, label in enumerate(labels):
        part = embedding[embedding["label"].astype(str) == label]
        ax.scatter(part["x"], part["y"], s=6, color=cmap(i % cmap.N), label=label)
    if len(labels) <= 20:
        ax.legend(fontsize=7, markerscale=2, ncol=2)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title, fontsize=9)
    return _png(fig)


def cost_chart(summary: pd.DataFrame, metric: str) -> Chart | None:
    if "train_seconds_mean" not in summary or f"{metric}_mean" not in summary:
        return None
    fig, ax = _figure(6.4, 4.2)
    x, y = summary["train_seconds_mean"].to_numpy(float), summary[f"{metric}_mean"].to_numpy(float)
    sizes = summary["parameters_mean"].to_numpy(float) if "parameters_mean" in summary else np.full(len(x), 1e5)
    ax.scatter(x, y, s=20 + 200 * sizes / max(float(np.nanmax(sizes)), 1.0), alpha=0.7, color="#DD8452")
    for xi, yi, name in zip(x, y, summary["method"].astype(str), strict=True):
        ax.annotate(name, (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("train seconds (marker area: parameters)")
    ax.set_ylabel(metric)
    ax.set_title("cost against quality")
    return _png(fig)


def _table_html(frame: pd.DataFrame, floatfmt: str = "{:.4f}") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = "".join(f"<td>{html.escape(floatfmt.format(v) if isinstance(v, float) else str(v))}</td>"
                        for v in record)
        rows.append(f"<tr>{cells}</tr>")
    return f'<table class="results"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def results_table(summary: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    out = pd.DataFrame({"method": summary["method"]})
    if "dataset" in summary:
        out["dataset"] = summary["dataset"]
    out["runs"] = summary["runs"]
    for metric in metrics:
        if f"{metric}_mean" not in summary:
            continue
        spec = ",.0f" if metric in ("parameters", "samples_per_second", "peak_rss_mb") else (
            ".1f" if "seconds" in metric else ".4f")
        out[metric] = [format(m, spec) if n <= 1 else f"{format(m, spec)} ± {format(s, spec)}" for m, s, n in
                       zip(summary[f"{metric}_mean"], summary[f"{metric}_std"], summary["runs"], strict=True)]
    return out


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table.results { border-collapse: collapse; font-size: 0.85em; }
table.results th, table.results td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
table.results th { background: #f3f3f3; } table.results td:first-child { text-align: left; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.8em; color: #555; text-align: center; }
.meta { color: #666; font-size: 0.85em; }
ul.warning { background: #fff4e5; border-left: 4px solid #e69500; padding: 0.6em 0.6em 0.6em 2em; }
details.failed { margin: 0.6em 0; } details.failed summary { cursor: pointer; font-weight: 600; }
details.failed pre { background: #f6f6f6; border: 1px solid #ddd; padding: 0.6em; overflow-x: auto;
                     white-space: pre; font-size: 0.8em; }
"""

_CHECK = """
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; } }
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-images-ok', String(ok));
  document.body.setAttribute('data-errors', String(window.__errors.length));
});
"""


def baseline_table(runs: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    """Per method: ``metric``, each classical baseline's value on the same inputs and rows, and the gap to
    the better baseline (means over the finished seeds); None when no run has a baseline."""
    columns = {c.removeprefix("baseline_").removesuffix(f"_{metric}"): c for c in runs.columns
               if c.startswith("baseline_") and c.endswith(f"_{metric}")}
    if metric not in runs or not columns:
        return None
    ok = runs[runs["status"] == "ok"] if "status" in runs else runs
    table = ok.groupby("method", sort=False)[[metric, *columns.values()]].mean(numeric_only=True)
    table = table.rename(columns={c: name for name, c in columns.items()})
    pick = table[list(columns)].min(axis=1) if lower_is_better(metric) else table[list(columns)].max(axis=1)
    table["vs_baseline"] = table[metric] - pick
    return table.reset_index()


def write_report(
    path: str | Path,
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    metric: str,
    artifacts: str | Path | None = None,
    robustness: pd.DataFrame | None = None,
    robustness_scores: pd.DataFrame | None = None,
    title: str = "polymodal benchmark",
    notes: Sequence[str] = (),
    settings: Sequence[tuple[str, str]] | None = None,
    stale: pd.DataFrame | None = None,
) -> Path:
    """Write the self-contained HTML report to ``path`` (atomically) and return it.

    ``metric`` is the main metric column of ``runs`` (e.g. ``test_digit_accuracy``); ``artifacts`` the
    folder where :func:`polymodal.bench.run.write_artifacts` put each run's files (by run key);
    ``settings`` the (name, value) pairs the runs were trained with (shown as a section); ``stale`` the
    rows recorded by runs no longer in the grid (shown apart, counted nowhere).
    """
    path = Path(path)
    ok = runs[runs["status"] == "ok"] if "status" in runs else runs
    target = metric.split("_")[1] if metric.count("_") >= 2 else ""
    predictions = _predictions(ok, artifacts, target)
    chance = chance_level(predictions, target) if metric.endswith("_accuracy") else None
    sections = [_warnings_section(predictions, target)]
    if settings:
        sections.append("<h2>Run settings</h2>" + _table_html(pd.DataFrame(list(settings),
                                                                           columns=["setting", "value"])))
    metrics = [metric, metric.replace("accuracy", "macro_f1"), "train_seconds", "samples_per_second",
               "peak_rss_mb", "parameters"]
    metrics = list(dict.fromkeys(m for m in metrics if f"{m}_mean" in summary))
    chance_text = "" if chance is None else (
        f"<p>Chance level: <b>{chance:.4f}</b>, the accuracy of always predicting the most frequent class of "
        "the test rows (the dashed line in the plots).</p>")
    sections.append("<h2>Results</h2>" + _table_html(results_table(summary, metrics)) + chance_text)
    sections.append(_baseline_section(runs, metric))
    sections.append(_comparison_section(summary, metric, chance))
    chart = robustness_chart(robustness, metric, chance) if robustness is not None else None
    if chart:
        table = ""
        if robustness_scores is not None and len(robustness_scores):
            table = _table_html(robustness_summary(robustness_scores, metric))
        sections.append("<h2>Robustness</h2>" + _img(chart, "metric against corruption level (mean over seeds)")
                        + table)
    if artifacts is not None and len(ok) and metric in ok:
        sections.append(_best_run_section(ok, metric, Path(artifacts), target))
        sections.append(_contribution_section(ok, metric, Path(artifacts)))
        sections.append(_training_section(ok, Path(artifacts)))
    failed = runs[runs["status"] != "ok"] if "status" in runs else runs.iloc[0:0]
    sections.append(failed_section(failed))
    n_stale = 0 if stale is None else len(stale)
    if stale is not None and n_stale:
        sections.append(_stale_section(stale))
    meta = (f"written {time.strftime('%Y-%m-%d %H:%M')} by polymodal; {len(ok)} finished runs, {len(failed)} failed"
            + (f"; {n_stale} stale row(s) from runs no longer in the grid, not counted" if n_stale else ""))
    atomic_write_text(path, html_page(title, meta, [s for s in sections if s], notes))
    return path


def _predictions(ok: pd.DataFrame, artifacts: str | Path | None, target: str) -> dict[str, pd.DataFrame]:
    """Each finished run's test predictions of ``target`` (``artifacts/<key>/predictions.csv``), by run label."""
    out: dict[str, pd.DataFrame] = {}
    if artifacts is None or "key" not in ok:
        return out
    for record in ok.to_dict(orient="records"):
        file = Path(artifacts) / str(record["key"]) / "predictions.csv"
        if file.exists():
            frame = pd.read_csv(file, dtype=str, keep_default_na=False)
            if f"{target}_true" in frame and f"{target}_pred" in frame:
                out[f"{record['method']} (seed {record['seed']})"] = frame
    return out


def chance_level(predictions: dict[str, pd.DataFrame], target: str) -> float | None:
    """The accuracy of always predicting the most frequent class of the test rows (None without predictions)."""
    for frame in predictions.values():
        if len(frame):
            return float(frame[f"{target}_true"].value_counts(normalize=True).iloc[0])
    return None


def single_class_runs(predictions: dict[str, pd.DataFrame], target: str) -> list[tuple[str, str, int]]:
    """The runs that predict one class for every test row though the rows hold several: (run, class, rows)."""
    found = []
    for run, frame in predictions.items():
        predicted = frame[f"{target}_pred"].unique()
        if len(frame) > 1 and len(predicted) == 1 and frame[f"{target}_true"].nunique() > 1:
            found.append((run, str(predicted[0]), len(frame)))
    return found


def _warnings_section(predictions: dict[str, pd.DataFrame], target: str) -> str:
    lines = [f"{run} predicts {label!r} for every one of the {n} test rows: it has not learned to tell the "
             f"{target} classes apart (too few epochs or rows?); its scores are those of a constant guess."
             for run, label, n in single_class_runs(predictions, target)]
    if not lines:
        return ""
    return ('<h2>Warnings</h2><ul class="warning">' + "".join(f"<li>{html.escape(line)}</li>" for line in lines)
            + "</ul>")


def _baseline_section(runs: pd.DataFrame, metric: str) -> str:
    baseline = baseline_table(runs, metric)
    if baseline is None:
        return ""
    return ("<h2>Classical baseline</h2><p>Logistic regression and gradient boosting on simple features "
            "of the same rows (pooled pixels, MFCC statistics, TF-IDF, tabular values; "
            "<code>polymodal.evaluation.baseline</code>), scored like the method on the same split "
            "(mean over seeds). <b>vs_baseline</b> is the method minus the better baseline.</p>"
            + _table_html(baseline))


def _comparison_section(summary: pd.DataFrame, metric: str, chance: float | None) -> str:
    figures: list[str] = []
    if f"{metric}_mean" in summary and len(summary):
        line = "; dashed line: chance" if chance is not None else ""
        figures.append(_img(bar_chart(summary, metric, chance),
                            f"{metric} per method (error bars: std over seeds{line})"))
    suffix = metric[len("test"):] if metric.startswith("test_") else None
    chart = missing_chart(summary, suffix, chance) if suffix else None
    if chart:
        figures.append(_img(chart, "the main metric with each modality missing from every test row"))
    chart = cost_chart(summary, metric)
    if chart:
        figures.append(_img(chart, "train seconds against the main metric"))
    return "<h2>Comparison</h2>" + "".join(figures)


def best_run(ok: pd.DataFrame, metric: str) -> tuple[pd.Series, pd.DataFrame]:
    """The best finished run by ``metric`` (the first in grid order among exact ties) and every run tied
    with it (itself included)."""
    values = ok[metric]
    top = values.min() if lower_is_better(metric) else values.max()
    tied = ok[values == top]
    return tied.iloc[0], tied


def _best_run_section(ok: pd.DataFrame, metric: str, folder: Path, target: str) -> str:
    best, tied = best_run(ok, metric)
    best_dir = folder / str(best["key"])
    figures = []
    if (best_dir / "predictions.csv").exists():
        predictions = pd.read_csv(best_dir / "predictions.csv", dtype=str)
        chart = confusion_chart(predictions, target, f"{best['method']} (seed {best['seed']})")
        if chart:
            figures.append(_img(chart, f"confusion matrix of the best run: {best['method']}, seed {best['seed']}"))
    if (best_dir / "embedding.csv").exists():
        chart = embedding_chart(pd.read_csv(best_dir / "embedding.csv"), f"{best['method']}: joint embedding")
        if chart:
            figures.append(_img(chart, "2-D PCA map of the best run's joint embeddings (test rows)"))
    if not figures:
        return ""
    text = f"The best run by {metric}: {best['method']}, seed {best['seed']} ({float(best[metric]):.4f})."
    if len(tied) > 1:
        others = ", ".join(f"{r['method']} (seed {r['seed']})" for _, r in tied.iloc[1:].iterrows())
        text += (f" {len(tied)} runs tie exactly at this value (also {others}): the first of them in grid order "
                 "is shown; the tie does not make it better.")
    return f"<h2>Best run</h2><p>{html.escape(text)}</p>" + "".join(figures)


EXPLAIN_JSON = Path("explain") / "explain.json"  # where polymodal.bench.run.write_contribution puts it, per run


def contribution_chart(contribution: dict[str, Any]) -> Chart:
    """The Shapley value of each modality as a horizontal bar, zero marked, in the metric's units."""
    names = list(contribution["modalities"])
    fig, ax = _figure(6.4, max(2.4, 0.55 * len(names) + 1.4))
    y = np.arange(len(names))
    ax.barh(y, [contribution["shapley"][n] for n in names], color="#4C72B0", label="Shapley value")
    ax.axvline(0.0, color="#333", lw=0.8)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel(f"{contribution['metric']} (Shapley values add up to all minus none: "
                  f"{contribution['full'] - contribution['empty']:.3f})")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"modality contribution to {contribution['target']} {contribution['metric']}")
    return _png(fig)


def _png_file(path: Path, alt: str) -> str:
    """A PNG file of the artifacts (a heat map) embedded as a data URI."""
    uri = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    return _img(Chart(uri), alt)


def contribution_html(explanation: dict[str, Any], folder: Path, run: str) -> str:
    """The "Modality contribution" section from an ``explain.json`` (read from ``folder``) of the run ``run``."""
    contributions = explanation.get("contributions") or []
    if not contributions:
        return ""
    first = contributions[0]
    names = first["modalities"]
    table = pd.DataFrame({"modality": names, "Shapley value": [float(first["shapley"][n]) for n in names],
                          "alone": [float(first["single"][n]) for n in names],
                          "left out": [float(first["leave_one_out"][n]) for n in names]})
    text = (f"{run}, on the {explanation.get('rows', '?')} test rows: each modality's Shapley value for "
            f"{first['target']} {first['metric']} ({first['method']}), from the scores of every subset of "
            "modalities with the others masked as missing (the model itself, no retraining). They add up to "
            f"the score with every modality ({first['full']:.4f}) minus the score with none ({first['empty']:.4f}). "
            "Beside them: the score of each modality alone, and with it left out.")
    parts = [f"<h2>Modality contribution</h2><p>{html.escape(text)}</p>", _table_html(table),
             _img(contribution_chart(first), "Shapley value of each modality (polymodal explain)")]
    gradients = explanation.get("integrated_gradients") or {}
    maps = [(folder / item["heatmap"], item) for item in gradients.get("items", []) if item.get("heatmap")]
    maps = [(path, item) for path, item in maps if path.is_file()]
    if maps:
        parts.append("<p>Integrated gradients (Captum) of the logit of the predicted class on the raw inputs of a "
                     "few test rows: where the model looks.</p>")
        parts += [_png_file(path, f"{item['modality']}, row {item['row']}: integrated gradients")
                  for path, item in maps]
    for modality, reason in (gradients.get("skipped") or {}).items():
        parts.append(f"<p class=\"meta\">{html.escape(f'No integrated gradients for {modality}: {reason}.')}</p>")
    return "".join(parts)


def _contribution_section(ok: pd.DataFrame, metric: str, folder: Path) -> str:
    best, _ = best_run(ok, metric)
    path = folder / str(best["key"]) / EXPLAIN_JSON
    if not path.is_file():
        return ""
    return contribution_html(json.loads(path.read_text()), path.parent,
                             f"The best run ({best['method']}, seed {best['seed']})")


def _training_section(ok: pd.DataFrame, folder: Path) -> str:
    histories = {}
    for method, part in ok.groupby("method", sort=False):
        history_file = folder / str(part.iloc[0]["key"]) / "history.csv"
        if history_file.exists():
            histories[str(method)] = pd.read_csv(history_file)
    chart = training_chart(histories)
    return "<h2>Training</h2>" + _img(chart, "validation and training loss per epoch") if chart else ""


def failed_section(failed: pd.DataFrame) -> str:
    """Each failed run with its error as it was recorded: the message, then the traceback, line by line."""
    if not len(failed):
        return ""
    items = []
    for record in failed.to_dict(orient="records"):
        error = str(record.get("error") or "no error recorded")
        first = _first_line(error)
        items.append(f'<details class="failed" open><summary>{html.escape(str(record["method"]))} · seed '
                     f"{html.escape(str(record['seed']))}: {html.escape(first)}</summary>"
                     f"<pre>{html.escape(error)}</pre></details>")
    return "<h2>Failed runs</h2>" + "".join(items)


def _stale_section(stale: pd.DataFrame) -> str:
    rows = pd.DataFrame([{
        "method": str(r.get("method", "")), "seed": str(r.get("seed", "")),
        "status": f"stale ({r.get('status', 'ok')})", "error": _first_line(r.get("error")),
    } for r in stale.to_dict(orient="records")])
    return ("<h2>Stale runs</h2><p>Rows that <code>runs.csv</code> still holds from runs no longer in the grid "
            "(a method, option or seed changed since): kept in the file, left out of every table and plot above "
            "and of the exit code. Delete them from <code>runs.csv</code> to drop them.</p>" + _table_html(rows))


def _first_line(error: Any) -> str:
    text = str(error).strip() if isinstance(error, str) else ""
    return text.splitlines()[0] if text else ""


def html_page(title: str, meta: str, sections: Sequence[str], notes: Sequence[str] = ()) -> str:
    """A self-contained report page: ``title``, ``meta`` and ``notes`` are plain text (escaped here);
    ``sections`` are HTML made from escaped values (see :func:`_table_html`, :func:`_img`)."""
    notes_html = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style><script>{_CHECK}</script></head><body>"
            f"<h1>{html.escape(title)}</h1><p class=\"meta\">{html.escape(meta)}</p>{notes_html}"
            f"{''.join(sections)}</body></html>\n")
