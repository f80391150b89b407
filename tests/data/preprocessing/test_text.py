import numpy as np
import pandas as pd
import pytest
import torch

from polymodal.data.preprocessing import NotFittedError, TextPreprocessor, tokenize


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("Hello, WORLD! It's 3pm.") == ["hello", ",", "world", "!", "it", "'", "s", "3pm", "."]
    assert tokenize("   ") == []


def test_vocabulary_is_fitted_on_train_by_frequency():
    train = pd.DataFrame({"t": ["b a a", "c b a", None]})
    pre = TextPreprocessor("t", max_length=5).fit(train)
    assert pre.vocabulary_ == ["a", "b", "c"]  # a:3, b:2, c:1
    assert pre.input_info() == {"kind": "text", "vocab_size": 5, "max_length": 5}
    out = pre.transform(pd.DataFrame({"t": ["A zebra c!", "b"]}))
    assert out.dtype == torch.long
    # unknown words ("zebra", "!") map to 1, padding is 0
    assert out.tolist() == [[2, 1, 4, 1, 0], [3, 0, 0, 0, 0]]
    assert pre.vocabulary_ == ["a", "b", "c"]  # transform did not change the vocabulary


def test_min_freq_and_max_size():
    train = pd.DataFrame({"t": ["x x x y y z", "w"]})
    assert TextPreprocessor("t", min_freq=2).fit(train).vocabulary_ == ["x", "y"]
    assert TextPreprocessor("t", max_size=1).fit(train).vocabulary_ == ["x"]
    # ties broken alphabetically
    assert TextPreprocessor("t", max_size=3).fit(train).vocabulary_ == ["x", "y", "w"]


def test_max_length_fitted_from_token_counts_and_truncation():
    lengths = [2, 3, 5, 6, 8, 9, 10, 12, 12, 40]
    train = pd.DataFrame({"t": [" ".join(["w"] * n) for n in lengths]})
    pre = TextPreprocessor("t").fit(train)
    assert pre.input_info()["max_length"] == int(np.ceil(np.percentile(lengths, 95)))
    assert TextPreprocessor("t").fit(pd.DataFrame({"t": ["a"]})).length_ == 4  # clipped below
    assert TextPreprocessor("t").fit(pd.DataFrame({"t": ["a " * 500]})).length_ == 256  # clipped above
    short = TextPreprocessor("t", max_length=2).fit(pd.DataFrame({"t": ["a b c"]}))
    assert short.transform(pd.DataFrame({"t": ["a b c"]})).tolist() == [[2, 3]]


def test_missing_rows_are_all_padding_and_not_present():
    frame = pd.DataFrame({"t": ["hello there", None, "", float("nan")]})
    pre = TextPreprocessor("t", max_length=4).fit(frame)
    np.testing.assert_array_equal(pre.present(frame), [True, False, False, False])
    out = pre.transform(frame)
    assert torch.all(out[1:] == 0)


def test_round_trip(round_trip):
    train = pd.DataFrame({"t": ["the cat sat", "the dog ran!", "a bird"]})
    test = pd.DataFrame({"t": ["the unknown bird", None, "cat cat cat cat cat cat cat cat"]})
    pre = TextPreprocessor("t").fit(train)
    loaded = round_trip(pre)
    assert torch.equal(loaded.transform(test), pre.transform(test))
    assert loaded.input_info() == pre.input_info()


def test_errors():
    with pytest.raises(NotFittedError, match="TextPreprocessor"):
        TextPreprocessor("t").transform(pd.DataFrame({"t": ["a"]}))
    with pytest.raises(TypeError, match=r"column 't', row 1: expected text \(str\), got int"):
        TextPreprocessor("t").fit(pd.DataFrame({"t": ["a", 5]}))
    with pytest.raises(ValueError, match="min_freq must be at least 1"):
        TextPreprocessor("t", min_freq=0)
