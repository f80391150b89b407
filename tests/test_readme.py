"""The README's representation, transfer and generation commands run in order, as written, on a small
table with AV-digits' columns (image, audio, digit, speaker, split): only the table's path and the
training length change."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polymodal.cli import main
from polymodal.datasets import make_synthetic_table

README = Path(__file__).resolve().parents[1] / "README.md"
TABLE = "avdigits/avdigits.csv"
SHORT = ["--epochs", "1", "--batch-size", "16"]


def readme_sequence() -> list[list[str]]:
    """The commands between the README's ``readme-sequence`` markers, continuation lines joined and comments
    dropped, as argument lists (without the leading ``polymodal``)."""
    text = README.read_text()
    block = text[text.index("<!-- readme-sequence -->"):text.index("<!-- /readme-sequence -->")]
    joined = re.sub(r"\\\n\s*", " ", block.split("```bash\n", 1)[1].split("```", 1)[0])
    commands = [line.split("#", 1)[0].strip() for line in joined.splitlines()]
    return [shlex.split(c)[1:] for c in commands if c.startswith("polymodal ")]


def _avdigits_like(folder: Path) -> Path:
    table = make_synthetic_table(folder, n_rows=60, kinds=("image", "audio"), n_classes=3)
    frame = pd.read_csv(table).rename(columns={"label": "digit"})
    frame["speaker"] = np.array(["ann", "bob", "cat"])[np.arange(len(frame)) % 3]
    frame["split"] = np.where(frame["speaker"] == "cat", "test", "train")  # a speaker never heard in training
    path = folder / "avdigits.csv"
    frame.to_csv(path, index=False)
    return path


def test_the_readme_sequence_names_each_step_the_issue_lists() -> None:
    steps = [(c[0], c[c.index("--objective") + 1] if "--objective" in c else None) for c in readme_sequence()]
    for step in [("pretrain", "contrastive"), ("fit", None), ("pretrain", "projection"), ("generate", None),
                 ("evaluate", None)]:
        assert step in steps
    assert any("trunk" in c for c in readme_sequence())
    assert any("--init-from" in c for c in readme_sequence() if c[0] == "fit")


def test_the_readme_sequence_runs_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    table = _avdigits_like(tmp_path / "avdigits")
    monkeypatch.chdir(tmp_path)  # the README's relative outputs (enc/, model/, ...) land here
    for args in readme_sequence():
        args = [str(table) if a == TABLE else a for a in args]
        if args[0] in ("fit", "pretrain"):
            args += [*SHORT, "--config", str(_quiet(tmp_path))]
        if args[0] == "generate":
            args += ["--samples", "1"]
        assert main(args) == 0, (args, capsys.readouterr().err[-2000:])
        err = capsys.readouterr().err
        if args[0] in ("fit", "pretrain"):
            assert "inputs:" in err  # which columns form which modality, before training
            assert "looks like" not in err and "(a label?)" not in err, err  # no label left among the inputs
    assert (tmp_path / "generated" / "generated.csv").is_file()


def test_pretraining_on_the_labels_names_them_and_transfer_says_what_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = _avdigits_like(tmp_path / "avdigits")
    quiet = ["--config", str(_quiet(tmp_path))]
    assert main(["pretrain", str(table), "--objective", "contrastive", "--out", str(tmp_path / "enc"), *SHORT,
                 *quiet]) == 0
    err = capsys.readouterr().err
    assert "tabular (tabular) <- digit, speaker, split" in err
    assert ("warning: input column 'digit' (modality 'tabular') has only 3 distinct values (a label?); leave it "
            "out with --ignore digit") in err
    assert ("warning: input column 'split' (modality 'tabular') looks like a split column (its name); leave it "
            "out with --split-column split (or --ignore split)") in err
    assert main(["fit", str(table), "--target", "digit", "--split-column", "split", "--init-from",
                 str(tmp_path / "enc"), *SHORT, *quiet]) == 2
    err = capsys.readouterr().err
    assert ("the source learnt from ['digit'] as input(s), and here they are the target(s): a model that saw the "
            "labels cannot be transferred to predict them; train the source again with --ignore digit") in err
    assert ("the source read ['split'], which this run leaves out (--ignore, --split-column): train the source "
            "without them too (--ignore split when pretraining), or stop leaving them out") in err


def _quiet(folder: Path) -> Path:
    path = folder / "quiet.yaml"
    path.write_text("train:\n  progress: false\n")
    return path
