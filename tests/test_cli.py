"""The command line end to end: every fusion through ``--fusion``/``--fusion-arg``, multi-task flags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import polymodal
import polymodal.commands
from polymodal.cli import main
from polymodal.fusion import FUSIONS

# one argument per fusion that takes any, to show --fusion-arg reaches the module
FUSION_ARGS: dict[str, list[str]] = {
    "concat": [],
    "cross_attention": ["attention=additive", "num_heads=2"],
    "early": ["dropout=0.2"],
    "gated": ["output_dim=24"],
    "late": [],
    "late_stacking": ["hidden_dim=16"],
    "late_vote": [],
    "late_weighted": [],
    "low_rank": ["rank=3"],
    "sum": ["output_dim=24"],
    "tensor": ["proj_dim=6"],
    "transformer": ["num_layers=1", "pairwise_cross=true"],
}
FAST = ["--epochs", "1", "--batch-size", "64", "--encoder-arg", "image.base_channels=4",
        "--encoder-arg", "image.output_dim=16"]


@pytest.fixture(scope="module")
def small_table(digits_csv: Path) -> Path:
    frame = pd.read_csv(digits_csv).iloc[:200]
    frame["value"] = frame["digit"].astype(float) * 1.5
    path = digits_csv.parent / "cli-small.csv"
    frame.to_csv(path, index=False)
    return path


def test_every_registered_fusion_is_covered() -> None:
    assert sorted(FUSION_ARGS) == FUSIONS.names()


@pytest.mark.parametrize("fusion", sorted(FUSION_ARGS))
def test_fit_with_every_fusion_and_its_arguments(fusion: str, small_table: Path, tmp_path: Path, capsys) -> None:
    args = [a for pair in FUSION_ARGS[fusion] for a in ("--fusion-arg", pair)]
    out = tmp_path / "bundle"
    code = main(["fit", str(small_table), "--target", "digit", "--ignore", "value", "--fusion", fusion, *args,
                 *FAST, "--out", str(out), "--json"])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert 0.0 <= metrics["validation"]["digit"]["accuracy"] <= 1.0
    config = json.loads((out / "config.json").read_text())
    expected = polymodal.commands.parse_pairs(FUSION_ARGS[fusion], "--fusion-arg")
    assert config["model"]["fusion"] == fusion and config["model"]["fusion_args"] == expected
    model = polymodal.load(out).model
    fusion_module = next(iter(model.fusions.values()))
    for key, value in expected.items():  # the module was built with the argument
        attr = getattr(fusion_module, key, None)
        if attr is not None and not callable(attr):
            assert attr == value
    assert len(polymodal.load(out).predict(small_table)) == 200


def test_unknown_fusion_lists_the_known_ones(small_table: Path, capsys) -> None:
    assert main(["fit", str(small_table), "--target", "digit", "--fusion", "nope", *FAST]) == 2
    err = capsys.readouterr().err
    assert "unknown fusion 'nope'" in err and "low_rank" in err and "transformer" in err


def test_unknown_fusion_argument_lists_the_valid_ones(small_table: Path, capsys) -> None:
    assert main(["fit", str(small_table), "--target", "digit", "--fusion", "low_rank", "--fusion-arg", "rnak=4",
                 *FAST]) == 2
    err = capsys.readouterr().err
    assert "unknown argument(s) rnak for fusion 'low_rank'" in err and "rank" in err


def test_an_argument_set_from_the_data_is_refused(small_table: Path, capsys) -> None:
    assert main(["fit", str(small_table), "--target", "digit", "--fusion", "late", "--fusion-arg", "num_outputs=3",
                 *FAST]) == 2
    assert "num_outputs of 'late' are set from the data" in capsys.readouterr().err


def test_malformed_fusion_argument(small_table: Path, capsys) -> None:
    assert main(["fit", str(small_table), "--target", "digit", "--fusion-arg", "rank4", *FAST]) == 2
    assert "--fusion-arg 'rank4' must look like KEY=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize("sharing", ["hard", "soft", "cross-stitch"])
def test_multi_task_flags(sharing: str, small_table: Path, tmp_path: Path, capsys) -> None:
    code = main(["fit", str(small_table), "--target", "digit", "--target", "value", "--task", "value=regression",
                 "--sharing", sharing, "--sharing-weight", "0.01", "--loss-weighting", "uncertainty", *FAST,
                 "--out", str(tmp_path / "b"), "--json"])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert "accuracy" in metrics["validation"]["digit"] and "rmse" in metrics["validation"]["value"]
    assert json.loads((tmp_path / "b" / "config.json").read_text())["model"]["sharing"] == sharing


def test_fixed_loss_weights_for_unknown_target_is_an_error(small_table: Path, capsys) -> None:
    assert main(["fit", str(small_table), "--target", "digit", "--loss-weight", "speaker=2", *FAST]) == 2
    assert "loss weights given for unknown target(s) ['speaker']" in capsys.readouterr().err


def test_fit_refuses_paths_escaping_the_data_root(tmp_path: Path, capsys) -> None:
    from PIL import Image

    root = tmp_path / "root"
    (root / "img").mkdir(parents=True)
    for i in range(6):
        Image.new("L", (8, 8), color=40 * i).save(root / "img" / f"{i}.png")
    secret = tmp_path / "secret.png"
    Image.new("L", (8, 8)).save(secret)
    (root / "img" / "link.png").symlink_to(secret)
    paths = ["img/0.png", "img/1.png", "../secret.png", str(secret), "img/link.png", "img/5.png"]
    pd.DataFrame({"image": paths, "label": [0, 1, 0, 1, 0, 1]}).to_csv(root / "t.csv", index=False)
    args = ["fit", str(root / "t.csv"), "--target", "label", "--modality", "image=image", *FAST]
    assert main([*args, "--data-root", str(root)]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    for row in (2, 3, 4):  # relative with '..', absolute, and a symlink inside the root pointing out
        assert f"row {row}, column 'image'" in err
    assert "outside the data root" in err and "row 0," not in err and "row 5," not in err


def test_pretrain_then_embed(digits_csv: Path, tmp_path: Path, capsys) -> None:
    table = digits_csv.parent / "digits_120_cli.csv"
    pd.read_csv(digits_csv).iloc[:120].to_csv(table, index=False)
    code = main(["pretrain", str(table), "--objective", "autoencoder", "--target", "digit", "--objective-arg",
                 "latent_dim=6", "--encoder-arg", "image.base_channels=4", "--encoder-arg", "image.output_dim=8",
                 "--epochs", "1", "--out", str(tmp_path / "enc"), "--run-dir", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    assert "embeddings of size 6" in capsys.readouterr().out
    assert main(["embed", str(tmp_path / "enc"), str(table), "--out", str(tmp_path / "z.csv")]) == 0
    frame = pd.read_csv(tmp_path / "z.csv")
    assert list(frame.columns) == ["row", *[f"z{i}" for i in range(6)]] and len(frame) == 120
    assert main(["embed", str(tmp_path / "enc"), str(table), "--out", str(tmp_path / "z.npy")]) == 0
    assert np.allclose(np.load(tmp_path / "z.npy"), frame.iloc[:, 1:].to_numpy(), atol=1e-5)
    capsys.readouterr()
    assert main(["embed", str(tmp_path / "enc"), str(table), "--out", str(table)]) == 2
    assert f"--out {table} is the input table; write to another file" in capsys.readouterr().err
    assert main(["embed", str(tmp_path / "enc"), str(table), "--out", str(tmp_path)]) == 2
    assert f"is a folder; give the file to write, e.g. --out {tmp_path / 'embeddings.npy'}" in capsys.readouterr().err
    assert len(pd.read_csv(table)) == 120


def test_pretrain_with_augmentations(digits_csv: Path, tmp_path: Path, capsys) -> None:
    import json

    table = digits_csv.parent / "digits_120_cli.csv"
    pd.read_csv(digits_csv).iloc[:120].to_csv(table, index=False)
    small = ["--encoder-arg", "image.base_channels=4", "--encoder-arg", "image.output_dim=8", "--epochs", "1"]
    code = main(["pretrain", str(table), "--target", "digit", "--augment", "image=crop,noise", "--augment",
                 "noisy=none", *small, "--out", str(tmp_path / "enc")])
    assert code == 0, capsys.readouterr().err
    config = json.loads((tmp_path / "enc" / "config.json").read_text())
    assert config["model"]["augment"] == {"image": ["crop", "noise"], "noisy": "none"}
    assert main(["pretrain", str(table), "--target", "digit", "--augment", "image=time_mask", *small]) == 2
    assert "augmentation 'time_mask' applies to audio, not to image modality" in capsys.readouterr().err
    assert main(["pretrain", str(table), "--augment", "image", *small]) == 2
    assert "--augment takes MODALITY=NAMES" in capsys.readouterr().err


def test_pretrain_with_an_unknown_objective_lists_the_known_ones(digits_csv: Path, capsys) -> None:
    assert main(["pretrain", str(digits_csv), "--objective", "simclr", "--epochs", "1"]) == 2
    known = "autoencoder, cgan, contrastive, dcca, dccae, projection, vae"
    assert f"unknown objective 'simclr'; known objectives: {known}" in capsys.readouterr().err


def test_pretrain_takes_the_device_options_of_fit() -> None:
    """Multi-process pretraining (where the contrastive and DCCA losses gather across processes) from the CLI."""
    from polymodal.cli import build_parser
    from polymodal.engine.pretrain import pretrain_config

    args = build_parser().parse_args(["pretrain", "t.csv", "--objective", "dcca", "--accelerator", "cpu", "--devices",
                                      "2", "--strategy", "ddp", "--num-nodes", "3", "--precision", "bf16-mixed"])
    train = pretrain_config("dcca", None, **polymodal.commands._pretrain_options(args)).train
    assert (train.accelerator, train.devices, train.strategy, train.num_nodes, train.precision) == (
        "cpu", 2, "ddp", 3, "bf16-mixed")


def test_transfer_end_to_end(tmp_path: Path, capsys) -> None:
    from polymodal.datasets import make_synthetic_table

    table = str(make_synthetic_table(tmp_path / "data", n_rows=120, kinds=("numeric", "vector")))
    fast = ["--epochs", "1", "--batch-size", "64"]
    assert main(["pretrain", table, "--ignore", "label", "--out", str(tmp_path / "pre"), *fast]) == 0
    code = main(["fit", table, "--target", "label", "--init-from", str(tmp_path / "pre"), "--freeze",
                 "--out", str(tmp_path / "fit"), *fast])
    assert code == 0, capsys.readouterr().err
    out = " ".join(capsys.readouterr().out.split())
    assert f"initialised encoders.embedding, encoders.tabular from {tmp_path / 'pre'} (frozen)" in out
    fitted = polymodal.load(tmp_path / "fit")
    transfer = fitted.metrics["transfer"]
    assert transfer["frozen"] == ["encoders.embedding", "encoders.tabular"]
    frozen = sum(p.numel() for n, p in fitted.model.named_parameters() if n.startswith(tuple(transfer["frozen"])))
    total = fitted.metrics["parameters"]
    assert 0 < frozen < total  # both counts printed: the frozen run trains only the rest
    assert f"{total:,} parameters, {total - frozen:,} of them trainable (the rest frozen)" in out
    code = main(["fit", table, "--target", "label", "--init-from", str(tmp_path / "fit"), "--transfer", "trunk",
                 "--json", *fast])
    assert code == 0 and json.loads(capsys.readouterr().out)["transfer"]["initialised"][-1] == "fusions.shared"
    # data-level: the tabular modality mapped into the (transferred, frozen) vector space, then retrieval
    code = main(["pretrain", table, "--ignore", "label", "--objective", "projection", "--objective-arg",
                 "target=embedding", "--init-from", str(tmp_path / "pre"), "--out", str(tmp_path / "proj"), *fast])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["retrieve", str(tmp_path / "proj"), table, "--from", "tabular", "--to", "embedding", "--label",
                 "label", "--json"]) == 0
    assert json.dumps(json.loads(capsys.readouterr().out)["n"]) == "120"  # a count, not 120.0
    assert main(["retrieve", str(tmp_path / "proj"), table, "--from", "tabular", "--to", "embedding"]) == 0
    printed = capsys.readouterr().out.splitlines()
    header = next(line for line in printed if "method" in line)  # not a terminal
    row = next(line for line in printed if "pretrained" in line)
    assert row.rstrip(" │|").split()[-1] == "120" and "120.0000" not in row  # the count n, as an integer
    assert all(name in header for name in ("recall@1", "recall@5", "recall@10", "median_rank", "mean_rank"))
    assert main(["fit", table, "--target", "label", "--freeze", *fast]) == 2
    assert "give init_from=BUNDLE (--init-from BUNDLE)" in capsys.readouterr().err


def test_cache_info_and_clear(tmp_path: Path, capsys) -> None:
    import numpy as np

    from polymodal.cache import content_key
    from polymodal.cache.store import EmbeddingStore

    EmbeddingStore(tmp_path, "minilm-0123", 2, {"encoder": "minilm"}).put([content_key("a")], np.ones((1, 2), "f4"))
    assert main(["cache", "info", "--dir", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    listed = [(n["name"], n["entries"], n["meta"]["encoder"]) for n in info["namespaces"]]
    assert listed == [("minilm-0123", 1, "minilm")]
    assert main(["cache", "clear", "--dir", str(tmp_path)]) == 0
    assert "removed 1" in capsys.readouterr().out
    assert main(["cache", "info", "--dir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["namespaces"] == []


@pytest.mark.parametrize("how", ["--dir", "POLYMODAL_CACHE"])
def test_cache_clear_leaves_folders_that_are_not_cache_namespaces(tmp_path: Path, capsys, monkeypatch, how) -> None:
    import numpy as np

    from polymodal.cache import content_key
    from polymodal.cache.store import EmbeddingStore

    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.png").write_bytes(b"not a cache")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "meta.json").write_text("{")
    EmbeddingStore(tmp_path, "minilm-0123", 2, {"encoder": "minilm"}).put([content_key("a")], np.ones((1, 2), "f4"))
    if how == "--dir":
        where = ["--dir", str(tmp_path)]
    else:
        where = []
        monkeypatch.setenv("POLYMODAL_CACHE", str(tmp_path))
    assert main(["cache", "info", *where, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert ([n["name"] for n in info["namespaces"]], info["not_cache"]) == (["minilm-0123"], ["bad", "photos"])
    assert main(["cache", "clear", *where]) == 0
    assert capsys.readouterr().out == (f"removed 1 cache namespace(s) from {tmp_path}; left 2 folder(s) that are not "
                                       "polymodal cache namespaces: bad, photos\n")
    assert (tmp_path / "photos" / "cat.png").read_bytes() == b"not a cache"
    assert not (tmp_path / "minilm-0123").exists()


def test_fit_streams_a_parquet_table(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "colour": rng.choice(["red", "blue"], 600),
                          "y": np.where(x[:, 0] + x[:, 1] > 0, "pos", "neg")})
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    code = main(["fit", str(path), "--target", "y", "--stream", "--chunk-rows", "100", "--fit-sample-rows", "300",
                 "--epochs", "3", "--lr", "0.01", "--out", str(tmp_path / "m"), "--json"])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["validation"]["y"]["accuracy"] > 0.75
    assert json.loads((tmp_path / "m" / "config.json").read_text())["data"]["stream"] is True


def test_tune_prints_a_line_per_trial_then_the_best(tmp_path: Path, capsys) -> None:
    from polymodal.datasets import make_synthetic_table

    table = make_synthetic_table(tmp_path / "data", n_rows=120, kinds=("numeric", "categorical"))
    study = tmp_path / "study"
    args = ["tune", str(table), "--target", "label", "--study", str(study), "--epochs", "1", "--no-baseline",
            "--search", "fusion=concat,late", "--search", "lr=1e-3:1e-2", "--search", "dropout=off"]
    assert main([*args, "--trials", "2"]) == 0
    printed = capsys.readouterr().out
    assert "trial 0 complete: " in printed and "(the base config)" in printed
    assert "trial 1 complete: " in printed and "fusion " in printed and ", dropout " not in printed
    assert f"study {study}: 2 trial(s) finished of 2 (2 complete)" in printed
    assert "best: trial " in printed and f"best model saved to {study / 'best'}" in printed
    assert f"report: {study / 'report.html'}" in printed
    assert main(["predict", str(study / "best"), str(table), "--out", str(tmp_path / "p.csv")]) == 0
    assert main([*args, "--trials", "4", "--lr", "0.01"]) == 2
    assert ("error: --search lr: the base config fixes lr (a flag or a key of --config); give either the value or "
            "the search range, not both") in capsys.readouterr().err
    assert main([*args[:-4], "--trials", "4", "--patience", "3"]) == 2
    assert (f"error: the study in {study} was made for a different search space and base config (train.patience "
            "differs); rerun with the table and options it was made with, or give a new --study DIR"
            ) in " ".join(capsys.readouterr().err.split())


def test_the_cli_offers_every_preset() -> None:
    from polymodal.cli import PRESETS
    from polymodal.engine.presets import PRESETS as RESOLVED

    assert list(RESOLVED) == PRESETS


def test_label_smoothing_reaches_the_training_config() -> None:
    from polymodal.cli import build_parser
    from polymodal.commands import _fit_options

    args = build_parser().parse_args(["fit", "t.csv", "--target", "y", "--label-smoothing", "0.1"])
    assert _fit_options(args)["label_smoothing"] == 0.1


def test_weight_and_balance_flags_reach_fit_tune_and_bench() -> None:
    from polymodal.cli import build_parser
    from polymodal.commands import _fit_options, bench_config

    flags = ["--class-weight", "y:balanced", "--class-weight", "z:a=2", "--sample-weight", "w"]
    for command in (["fit", "t.csv"], ["tune", "t.csv", "--trials", "2", "--study", "s"]):
        args = build_parser().parse_args([*command, "--target", "y", *flags, "--balance", "ogm-ge",
                                          "--balance-alpha", "0.3", "--no-balance-noise", "--balance-every", "3"])
        options = _fit_options(args)
        assert options["class_weight"] == {"y": "balanced", "z": {"a": 2.0}} and options["sample_weight"] == "w"
        assert (options["balance"], options["balance_alpha"], options["balance_noise"],
                options["balance_every"]) == ("ogm-ge", 0.3, False, 3)
    args = build_parser().parse_args(["bench", "--table", "t.csv", "--target", "y", "--class-weight", "balanced",
                                      "--sample-weight", "w", "--out", "o"])
    assert bench_config(args).common == {"class_weight": "balanced", "sample_weight": "w"}
