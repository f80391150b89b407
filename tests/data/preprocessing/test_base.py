import numpy as np
import pandas as pd
import pytest

from polymodal.data.kinds import ColumnKind, ModalityKind
from polymodal.data.preprocessing import (
    PREPROCESSORS,
    NotFittedError,
    TabularPreprocessor,
    TextPreprocessor,
    VectorPreprocessor,
    build_preprocessor,
    is_missing,
    preprocessor_from_state,
)


def test_is_missing():
    assert is_missing(None) and is_missing(float("nan")) and is_missing(np.float32("nan")) and is_missing(pd.NA)
    assert not is_missing(0.0) and not is_missing("") and not is_missing(np.zeros(3)) and not is_missing((None, 1))


def test_registry_has_one_preprocessor_per_kind():
    assert PREPROCESSORS.names() == sorted(k.value for k in ModalityKind)


def test_build_tabular_splits_columns_by_kind():
    kinds = {"age": ColumnKind.NUMERIC, "city": ColumnKind.CATEGORICAL, "income": ColumnKind.NUMERIC}
    pre = build_preprocessor(ModalityKind.TABULAR, ["age", "city", "income"], kinds, numeric_transform="log1p")
    assert isinstance(pre, TabularPreprocessor)
    assert (pre.numeric, pre.categorical, pre.numeric_transform) == (["age", "income"], ["city"], "log1p")


def test_build_single_column_kinds():
    pre = build_preprocessor("text", ["review"], {"review": ColumnKind.TEXT}, max_length=12)
    assert isinstance(pre, TextPreprocessor) and pre.max_length == 12
    assert isinstance(build_preprocessor(ModalityKind.VECTOR, ["e"], {"e": ColumnKind.VECTOR}), VectorPreprocessor)


def test_build_errors():
    with pytest.raises(ValueError, match=r"unknown argument\(s\) image_size for preprocessor 'text'; valid"):
        build_preprocessor("text", ["t"], {"t": ColumnKind.TEXT}, image_size=3)
    with pytest.raises(ValueError, match=r"the image modality takes exactly one column, got \['a', 'b'\]"):
        build_preprocessor("image", ["a", "b"], {"a": ColumnKind.IMAGE, "b": ColumnKind.IMAGE})
    with pytest.raises(ValueError, match="column 't' is text; the audio modality needs a column of kind audio"):
        build_preprocessor("audio", ["t"], {"t": ColumnKind.TEXT})
    with pytest.raises(ValueError, match=r"tabular modality takes numeric and categorical columns; \['t'\] are"):
        build_preprocessor("tabular", ["x", "t"], {"x": ColumnKind.NUMERIC, "t": ColumnKind.TEXT})


def test_state_carries_its_kind_and_rebuilds_any_preprocessor():
    frame = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]})
    pre = TabularPreprocessor(numeric=["x"], categorical=["c"]).fit(frame)
    state, arrays = pre.get_state()
    assert state["kind"] == "tabular"
    assert isinstance(preprocessor_from_state(state, arrays), TabularPreprocessor)
    with pytest.raises(ValueError, match="preprocessing state has kind 'pixels'; known kinds: audio, image"):
        preprocessor_from_state({**state, "kind": "pixels"}, arrays)
    with pytest.raises(ValueError, match="TextPreprocessor cannot load a state of kind 'tabular'"):
        TextPreprocessor.from_state(state, arrays)
    with pytest.raises(ValueError, match="preprocessing state version 99 is not supported"):
        preprocessor_from_state({**state, "version": 99}, arrays)
    with pytest.raises(ValueError, match=r"tabular preprocessing state is missing array\(s\) \['medians'\]"):
        preprocessor_from_state(state, {k: v for k, v in arrays.items() if k != "medians"})


def test_unfitted_state_is_an_error():
    with pytest.raises(NotFittedError, match=r"before get_state\(\)"):
        TextPreprocessor("t").get_state()
