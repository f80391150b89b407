import json
from collections.abc import Callable

import numpy as np
import pytest

from polymodal.data.preprocessing import Preprocessor, preprocessor_from_state


@pytest.fixture
def round_trip(tmp_path) -> Callable[[Preprocessor], Preprocessor]:
    """Save a fitted preprocessor as a bundle would (JSON + npz without pickles) and load it back."""

    def save_and_load(pre: Preprocessor) -> Preprocessor:
        state, arrays = pre.get_state()
        text = json.dumps(state)
        path = tmp_path / "arrays.npz"
        np.savez(path, **arrays)
        with np.load(path, allow_pickle=False) as loaded:
            restored = {name: loaded[name] for name in loaded.files}
        return preprocessor_from_state(json.loads(text), restored)

    return save_and_load
