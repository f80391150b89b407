"""Input columns that look like labels, splits or identifiers are named, with the flag that leaves each out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from polymodal.data.schema import infer_schema
from polymodal.data.suspects import suspect_columns


def _frame(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    speaker = np.array(["ann", "bob", "cat", "dan"])[np.arange(n) % 4]
    return pd.DataFrame({
        "x": rng.normal(size=n),
        "colour": rng.choice(["red", "blue", "green"], size=n),
        "digit": np.arange(n) % 10,
        "digit_name": [f"d{k}" for k in np.arange(n) % 10],
        "speaker": speaker,
        "group": np.where(speaker == "dan", "b", "a"),  # a grouping of the speakers
        "sample_id": [f"s{i:04d}" for i in range(n)],
        "serial": np.arange(n) * 7 + 3,
        "fold": np.arange(n) % 5,
    })


def _suspects(frame: pd.DataFrame, targets: list[str], unsupervised: bool = False) -> dict[str, str]:
    schema = infer_schema(frame, targets, ignore=[])
    return {s.column: s.message() for s in suspect_columns(frame, schema, unsupervised=unsupervised)}


def test_a_fit_names_the_columns_that_encode_the_target_identify_rows_or_split_them() -> None:
    found = _suspects(_frame(), ["digit"])
    assert found["digit_name"] == ("input column 'digit_name' (modality 'tabular') groups the rows exactly as the "
                                   "target 'digit' does (it encodes the target); leave it out with --ignore digit_name")
    assert "looks like an identifier (its name)" in found["sample_id"]
    assert "holds a different value in every row (an identifier?)" in found["serial"]
    assert found["fold"].endswith("looks like a split column (its name); leave it out with --split-column fold "
                                  "(or --ignore fold)")
    assert "is fixed by 'speaker' in every row (a split or group by speaker?)" in found["group"]
    assert {"x", "colour", "speaker"}.isdisjoint(found)  # ordinary inputs are left alone in a supervised fit


def test_pretraining_also_names_few_valued_columns_as_possible_labels() -> None:
    found = _suspects(_frame().drop(columns=["digit_name", "sample_id", "serial", "fold", "group"]), [],
                      unsupervised=True)
    assert found["digit"].endswith("has only 10 distinct values (a label?); leave it out with --ignore digit")
    assert "speaker" in found and "x" not in found
