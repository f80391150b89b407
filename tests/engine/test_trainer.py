import json

import numpy as np
import pytest
import torch

from polymodal.config import TrainConfig
from polymodal.data.dataset import EncodedData
from polymodal.engine.trainer import make_loader


def _data(n: int) -> EncodedData:
    return EncodedData({"x": torch.arange(n, dtype=torch.float32)[:, None]}, {"x": torch.ones(n, dtype=torch.bool)},
                       {}, np.arange(n))


def test_drop_last_leaves_out_the_incomplete_last_batch_only() -> None:
    config = TrainConfig(batch_size=4)
    kept = [len(batch[1]["x"]) for batch in make_loader(_data(10), config, shuffle=True, drop_last=True)]
    assert kept == [4, 4]
    assert [len(batch[1]["x"]) for batch in make_loader(_data(10), config, shuffle=False)] == [4, 4, 2]
    seen = torch.cat([batch[0]["x"][:, 0] for batch in make_loader(_data(10), config, shuffle=True, drop_last=True)])
    assert len(set(seen.tolist())) == 8  # shuffled: the dropped rows differ from epoch to epoch, none repeats


def test_drop_last_with_fewer_samples_than_a_batch_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"drop_last with batch_size 16 leaves no batch of the 10 sample\(s\): use a "
                                         "batch_size of at most 10"):
        make_loader(_data(10), TrainConfig(batch_size=16), shuffle=True, drop_last=True)


@pytest.mark.parametrize("verbose", [False, True])
def test_lightning_banner_only_with_verbose(tabular_csv, capfd, caplog, verbose) -> None:
    import logging

    from polymodal.cli import main

    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    before = (logging.getLogger("lightning.pytorch").level, list(rank_zero.filters))
    with caplog.at_level(logging.INFO):  # on Lightning's loop: polymodal's own prints no banner at all
        assert main(["fit", str(tabular_csv), "--target", "label", "--epochs", "1", "--json", "--loop", "lightning",
                     *(["--verbose"] if verbose else [])]) == 0
    printed = "".join(capfd.readouterr()) + caplog.text
    for banner in ("GPU available", "TPU available", "💡 Tip", "litlogger"):
        assert (banner in printed) is verbose, banner
    assert (logging.getLogger("lightning.pytorch").level, list(rank_zero.filters)) == before  # restored


def test_a_time_limit_stops_training_cleanly_with_the_best_weights(tmp_path, capsys) -> None:
    import pandas as pd

    from polymodal.cli import main

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    table = tmp_path / "t.csv"
    pd.DataFrame({"x": rng.normal(size=400) + y, "z": rng.normal(size=400), "y": y}).to_csv(table, index=False)
    code = main(["fit", str(table), "--target", "y", "--task", "y=binary", "--epochs", "100000", "--patience",
                 "100000", "--time-limit", "2", "--lr", "0.01", "--no-baseline", "--json"])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    train = metrics["train"]
    assert train["time_limit_reached"] is True
    assert 1 <= train["epochs_run"] < 100000 and train["train_seconds"] < 30
    assert train["best_epoch"] >= 0 and metrics["validation"]["y"]["accuracy"] > 0.6
