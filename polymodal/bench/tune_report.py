"""The HTML report of a ``polymodal tune`` study: the trial table, parameter importance and optimisation history.

One self-contained file in the style of :mod:`polymodal.bench.report` (plots as embedded PNGs, the same
render check on ``<body>``). Parameter importance (Optuna's default evaluator) needs at least two complete trials that
drew parameters; with fewer, the section says so instead of a plot.
"""

from __future__ import annotations

import html
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polymodal.bench.report import Chart, _figure, _img, _png, _table_html, html_page, integer_ticks
from polymodal.engine.tune import trial_rows
from polymodal.storage.atomic import atomic_write_text


def _complete(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def history_chart(study: Any, metric: str) -> Chart | None:
    """Each complete trial's value, the best so far, and the base config's trial as a dashed line."""
    trials = [t for t in _complete(study) if t.value is not None]
    if not trials:
        return None
    fig, ax = _figure(6.4, 4.0)
    numbers = np.array([t.number for t in trials])
    values = np.array([t.value for t in trials], dtype=float)
    better = np.maximum.accumulate if study.direction.name == "MAXIMIZE" else np.minimum.accumulate
    ax.scatter(numbers, values, color="#4C72B0", label="complete trial", zorder=3)
    ax.step(numbers, better(values), where="post", color="#DD8452", label="best so far")
    base = [t.value for t in trials if t.user_attrs.get("base")]
    if base:
        ax.axhline(float(base[0]), ls="--", color="#555", lw=1, label="base config (trial 0)")
    ax.set_xlabel("trial")
    integer_ticks(ax.xaxis)
    ax.set_ylabel(f"validation {metric}")
    ax.legend(fontsize=8)
    ax.set_title("optimisation history")
    return _png(fig)


def epochs_chart(study: Any, metric: str) -> Chart | None:
    """The validation metric per epoch of every trial; pruned trials in grey, ending where they were pruned."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    if not trials:
        return None
    fig, ax = _figure(6.4, 4.0)
    for t in trials:
        steps = sorted(t.intermediate_values)
        pruned = t.state.name == "PRUNED"
        ax.plot(steps, [t.intermediate_values[s] for s in steps], marker="." if pruned else None,
                color="#999" if pruned else "#4C72B0", alpha=0.6 if pruned else 0.9, lw=1)
    ax.set_xlabel("epoch")
    integer_ticks(ax.xaxis)
    ax.set_ylabel(f"validation {metric}")
    ax.set_title("per epoch (blue: ran to the end, grey: pruned)")
    return _png(fig)


def importance(study: Any) -> tuple[dict[str, float] | None, str]:
    """Optuna's parameter importances over the complete trials that drew parameters, or None and why not."""
    import optuna

    drawn = [t for t in _complete(study) if t.params]
    if len(drawn) < 2:
        return None, (f"parameter importance needs at least 2 complete trials that drew parameters; "
                      f"this study has {len(drawn)}")
    common = sorted(set.intersection(*(set(t.params) for t in drawn)))
    if not common:
        return None, "no parameter was drawn by every complete trial"
    try:
        with warnings.catch_warnings():  # "few trials per regime": the section says how many trials there are
            warnings.simplefilter("ignore", UserWarning)
            return optuna.importance.get_param_importances(study, params=common), ""
    except (ValueError, RuntimeError) as exc:
        return None, f"parameter importance could not be computed: {exc}"


def importance_chart(values: dict[str, float]) -> Chart:
    fig, ax = _figure(6.4, max(2.4, 0.4 * len(values) + 1.2))
    names = list(values)[::-1]
    ax.barh(range(len(names)), [values[n] for n in names], color="#55A868")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(f"importance (Optuna's default evaluator, {len(values)} parameters; sums to 1)")
    ax.set_title("parameter importance")
    return _png(fig)


def trials_frame(study: Any) -> pd.DataFrame:
    frame = pd.DataFrame(trial_rows(study))
    return frame.astype(object).where(frame.notna(), "")


def write_tune_report(study: Any, path: str | Path, *, metric: str, title: str = "polymodal tune") -> Path:
    """Write the study's report to ``path`` (atomically) and return it."""
    path = Path(path)
    sections: list[str] = []
    try:
        best = study.best_trial
    except ValueError:
        best = None
    if best is not None:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in best.params.items()) or "the base config"
        sections.append(f"<h2>Best trial</h2><p>trial {best.number}: validation {html.escape(metric)} "
                        f"{best.value:.4f} ({html.escape(params)})</p>")
    sections.append("<h2>Trials</h2>" + _table_html(trials_frame(study), floatfmt="{:.4g}"))
    figures = []
    chart = history_chart(study, metric)
    if chart:
        figures.append(_img(chart, "validation metric of each complete trial and the best so far"))
    chart = epochs_chart(study, metric)
    if chart:
        figures.append(_img(chart, "validation metric per epoch, as reported to the pruner"))
    sections.append("<h2>Optimisation history</h2>" + "".join(figures))
    values, why = importance(study)
    sections.append("<h2>Parameter importance</h2>" + (
        _img(importance_chart(values), "share of the variance of the validation metric explained by each parameter")
        if values else f"<p>{html.escape(why)}</p>"))
    states = pd.Series([r["state"] for r in trial_rows(study)]).value_counts().to_dict()
    meta = (f"written {time.strftime('%Y-%m-%d %H:%M')} by polymodal; "
            + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + f"; direction {study.direction.name.lower()}")
    atomic_write_text(path, html_page(title, meta, sections))
    return path


__all__ = ["epochs_chart", "history_chart", "importance", "write_tune_report"]
