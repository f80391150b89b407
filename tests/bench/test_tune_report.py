"""The report of a tune study: trial table, optimisation history and parameter importance, escaped, rendered."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from polymodal.bench.tune_report import write_tune_report
from tests.bench.test_report import BROWSER_FLAGS, CHROMIUM

EVIL = "<b>late</b>$x$"


def make_study(complete: int) -> optuna.Study:
    """A study as tune stores it: the base config first (no parameters), then drawn trials, some pruned."""
    study = optuna.create_study(direction="maximize")
    dists = {"fusion": CategoricalDistribution(["concat", EVIL]), "lr": FloatDistribution(1e-4, 1e-2, log=True)}
    study.add_trial(create_trial(value=0.80, intermediate_values={0: 0.5, 1: 0.8}, user_attrs={"base": True}))
    for i in range(complete):
        params = {"fusion": ["concat", EVIL][i % 2], "lr": 10 ** (-3 - i / 4)}
        study.add_trial(create_trial(params=params, distributions=dists, value=0.7 + 0.05 * i,
                                     intermediate_values={0: 0.5, 1: 0.7 + 0.05 * i}, user_attrs={"epochs": 2}))
    study.add_trial(create_trial(params={"fusion": "concat", "lr": 1e-4}, distributions=dists, state=TrialState.PRUNED,
                                 intermediate_values={0: 0.2}))
    return study


@pytest.fixture
def report(tmp_path: Path) -> Path:
    return write_tune_report(make_study(4), tmp_path / "report.html", metric="accuracy", title="tune <i>t</i>")


def test_the_report_has_the_trial_table_plots_and_importance(report: Path) -> None:
    page = report.read_text()
    assert "<h2>Trials</h2>" in page and page.count("<tr>") == 1 + 6  # header + base + 4 drawn + pruned
    assert "<td>pruned</td>" in page and "<td>0.0001</td>" in page  # small floats keep their digits
    best = "trial 4: validation accuracy 0.8500 (fusion=&lt;b&gt;late&lt;/b&gt;$x$, lr=0.0001778)"
    assert f"Best trial</h2><p>{best}</p>" in page
    assert page.count('<img src="data:image/png;base64,') == 3  # history, per epoch, importance
    assert "<h2>Parameter importance</h2><figure " in page and "<h2>Optimisation history</h2><figure " in page


def test_user_strings_are_escaped(report: Path) -> None:
    page = report.read_text()
    assert EVIL not in page and "&lt;b&gt;late&lt;/b&gt;$x$" in page
    assert "<i>t</i>" not in page and "tune &lt;i&gt;t&lt;/i&gt;" in page


def test_importance_needs_two_complete_trials_with_parameters(tmp_path: Path) -> None:
    page = write_tune_report(make_study(1), tmp_path / "r.html", metric="accuracy").read_text()
    assert ("parameter importance needs at least 2 complete trials that drew parameters; this study has 1"
            in page)
    assert page.count("<img ") == 2


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`; .ci/run installs it)")
def test_report_renders_in_headless_chromium(report: Path) -> None:
    dom = subprocess.run([CHROMIUM, *BROWSER_FLAGS, "--dump-dom", report.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dom[:500]
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    assert attrs == {"images": "3", "images-ok": "3", "errors": "0"}
    assert dom.count("<tr>") == 7  # the trial table rendered every row
