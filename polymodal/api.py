"""The Python entry points: :func:`fit`, :func:`tune`, :func:`load`, :func:`zero_shot`, :func:`from_joint`,
:func:`explain` and :func:`export_onnx`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polymodal.config import FitConfig, with_options
from polymodal.engine import fit as _fit
from polymodal.engine.tune import TuneResult
from polymodal.predictor import Predictor, TableLike
from polymodal.pretrained import PretrainedModel

if TYPE_CHECKING:
    from polymodal.evaluation.explain import Explanation
    from polymodal.evaluation.zero_shot import ZeroShotResult
    from polymodal.serving.onnx_export import ExportResult


def fit(
    table: TableLike,
    target: str | Sequence[str] | None = None,
    *,
    fusion: str | None = None,
    modalities: Mapping[str, str] | None = None,
    out: str | Path | None = None,
    config: FitConfig | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    **options: Any,
) -> Predictor:
    """Train a multimodal model on ``table`` to predict ``target``.

    ``options`` are fields of :class:`DataConfig`, :class:`ModelConfig` or :class:`TrainConfig`
    (``epochs=10``, ``fusion_args={"rank": 4}``, ``split_column="split"``, ...); an unknown option is
    an error listing the valid ones. ``run_dir`` keeps the per-epoch log and a resume checkpoint;
    ``resume=True`` continues a killed run in that folder from its last completed epoch (with the same
    configuration and table; a different one is an error that lists what differs).

    ``out`` is checked before training: an existing folder there is replaced only when it is a
    polymodal bundle of a supervised model; ``force=True`` also replaces a bundle of another kind or a
    damaged one. A folder that is not a bundle, the current folder and a folder holding the table are
    never replaced (see ``docs/files.md``).

    Transfer: ``init_from="bundle/"`` starts the encoders of the modalities that bundle (of
    :func:`polymodal.pretrain` or :func:`fit`) has from its weights, with its fitted preprocessing;
    ``freeze=True`` keeps them fixed; ``transfer="trunk"`` also reuses a supervised bundle's fusion under
    new heads (see :mod:`polymodal.engine.transfer`).

    Example
    -------
    >>> import polymodal
    >>> predictor = polymodal.fit("table.csv", target="label", fusion="concat", epochs=5)  # doctest: +SKIP
    >>> predictor.evaluate("test.csv")                                                     # doctest: +SKIP
    >>> polymodal.fit("few.csv", target="label", init_from="encoder/", freeze=True)         # doctest: +SKIP
    """
    if target is not None:
        options["targets"] = [target] if isinstance(target, str) else list(target)
    if fusion is not None:
        options["fusion"] = fusion
    if modalities is not None:
        options["modalities"] = dict(modalities)
    merged = with_options(config if config is not None else FitConfig(), options)
    return _fit.fit(table, merged, out=out, run_dir=run_dir, resume=resume, force=force)


def tune(
    table: TableLike,
    target: str | Sequence[str] | None = None,
    *,
    trials: int,
    study: str | Path,
    time_limit: float | None = None,
    out: str | Path | None = None,
    search: Mapping[str, Any] | None = None,
    metric: str | None = None,
    pruner: Any = "median",
    config: FitConfig | None = None,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> TuneResult:
    """Tune the config of :func:`fit` on ``table`` with Optuna; the study is stored in the folder ``study``.

    ``options`` (and ``config``) make the base config, as for :func:`fit`: what they set is fixed, the rest
    of the search space is searched (see :mod:`polymodal.engine.search_space`; ``search`` narrows, widens
    or turns off a dimension: ``search={"fusion": ["concat", "late"], "lr": (1e-4, 3e-3), "dropout": None}``).
    ``trials`` is the number of finished trials the study should hold, counting those of earlier runs:
    calling ``tune`` again with the same arguments resumes an interrupted study. ``time_limit`` (seconds)
    bounds this call: no trial starts after it and a running one stops cleanly. The trials' value is the
    validation ``metric`` of the first target (accuracy, or R2 for regression); trials falling behind are
    pruned (``pruner``: median, hyperband, none or an Optuna pruner).

    Writes ``study/study.db``, ``study/trials.csv``, ``study/report.html`` and the best trial's bundle to
    ``out`` (default ``study/best``), which :func:`load` reads (see :mod:`polymodal.engine.tune`).

    Example
    -------
    >>> result = polymodal.tune("table.csv", target="label", trials=20, study="study/")  # doctest: +SKIP
    >>> polymodal.load(result.best_bundle).predict("new.csv")                            # doctest: +SKIP
    """
    from polymodal.bench.tune_report import write_tune_report
    from polymodal.engine.tune import REPORT
    from polymodal.engine.tune import tune as _tune

    if target is not None:
        options["targets"] = [target] if isinstance(target, str) else list(target)
    merged = with_options(config if config is not None else FitConfig(), options)
    name = table.name if isinstance(table, Path) else Path(table).name if isinstance(table, str) else "table"
    title = f"polymodal tune: {name} -> {', '.join(merged.data.targets)}"
    written: list[Path] = []

    def report(study_obj: Any, folder: Path) -> None:
        written.append(write_tune_report(study_obj, folder / REPORT, metric=metric_of(study_obj), title=title))

    result = _tune(table, merged, trials=trials, study=study, time_limit=time_limit, out=out, search=search,
                   metric=metric, pruner=pruner, on_trial=on_trial, on_finish=report)
    result.report = written[0] if written else None
    return result


def metric_of(study: Any) -> str:
    """The metric a stored study optimises (from its fingerprint)."""
    return str(study.user_attrs.get("polymodal", {}).get("metric", "value"))


def load(path: str | Path) -> Predictor:
    """Load a bundle saved by :func:`fit` / ``polymodal fit --out``; refuses pickle files (and says to use
    :func:`load_pretrained` for a bundle saved by :func:`pretrain`)."""
    return Predictor.load(path)


def load_pretrained(path: str | Path) -> PretrainedModel:
    """Load a representation saved by :func:`pretrain` / ``polymodal pretrain --out``."""
    return PretrainedModel.load(path)


def from_joint(model: str, table: TableLike | None = None, columns: str | None = None,
               **options: Any) -> PretrainedModel:
    """A joint model (``hf:NAME_OR_PATH``: CLIP, SigLIP or CLAP) as a representation, with no training:
    ``embed``, retrieval, zero-shot, ``save`` (see :func:`polymodal.engine.joint_model.from_joint`).

    Example
    -------
    >>> clip = polymodal.from_joint("hf:openai/clip-vit-base-patch32", "photos.csv")  # doctest: +SKIP
    >>> clip.embed("photos.csv", modalities=["photo"]).shape                          # doctest: +SKIP
    (120, 512)
    """
    from polymodal.engine.joint_model import from_joint as build

    return build(model, table, columns=columns, **options)


def zero_shot(model: str | Path | PretrainedModel, table: TableLike, classes: Sequence[str],
              templates: Sequence[str] = ("{}",), target: str | None = None, **options: Any) -> ZeroShotResult:
    """Classify the rows of ``table`` among ``classes`` by text prompts (``templates`` with ``{}`` for the
    class name, averaged as OpenCLIP does), with a joint model ``hf:NAME`` or a contrastive bundle; with
    ``target`` (a column of class names) the result holds accuracy, macro-F1 and AUROC. ``options``:
    ``modality``, ``text_modality``, ``columns``, ``on_error`` (see :func:`polymodal.evaluation.zero_shot.zero_shot`).

    Example
    -------
    >>> result = polymodal.zero_shot("hf:openai/clip-vit-base-patch32", "photos.csv", ["cat", "dog"],
    ...                              templates=["a photo of a {}"], target="label")      # doctest: +SKIP
    >>> result.predictions[["row", "predicted"]].head()                                 # doctest: +SKIP
    """
    from polymodal.evaluation.zero_shot import zero_shot as classify

    return classify(model, table, classes, templates=templates, target=target, **options)


def _predictor(model: str | Path | Predictor) -> Predictor:
    return model if isinstance(model, Predictor) else Predictor.load(model)


def explain(model: str | Path | Predictor, table: TableLike, out: str | Path | None = None,
            **options: Any) -> Explanation:
    """What a trained model (a :class:`Predictor` or a bundle folder) relies on, on the labelled ``table``:
    Shapley values of its modalities for the task metric and per sample, each modality alone and left out,
    the permutation importance of its tabular columns, and integrated gradients on image, audio and text
    inputs. With ``out``, writes ``out/explain.json`` and the heat maps under ``out/heatmaps/``.
    ``options``: ``target``, ``metric``, ``permutations``, ``repeats``, ``samples``, ``steps``, ``columns``,
    ``gradients``, ``seed``, ``on_error`` (see :func:`polymodal.evaluation.explain.explain`).

    Example
    -------
    >>> result = polymodal.explain("model/", "test.csv", out="explain/")  # doctest: +SKIP
    >>> result.contribution.shapley                                        # doctest: +SKIP
    {'image': 0.41, 'text': 0.08}
    """
    from polymodal.evaluation.explain import HEATMAPS, write_explanation
    from polymodal.evaluation.explain import explain as run

    if out is not None:
        options.setdefault("heatmaps", Path(out) / HEATMAPS)
    result = run(_predictor(model), table, **options)
    if out is not None:
        write_explanation(result, out)
    return result


def export_onnx(model: str | Path | Predictor, out: str | Path, check_table: TableLike | None = None,
                **options: Any) -> ExportResult:
    """Export a trained model (a :class:`Predictor` or a bundle folder) to the ONNX file ``out``, checked with
    onnxruntime (see :mod:`polymodal.serving.onnx_export`); ``check_table`` adds a check on its rows.

    Example
    -------
    >>> polymodal.export_onnx("model/", "model.onnx", check_table="test.csv").max_abs_diff  # doctest: +SKIP
    """
    from polymodal.serving.onnx_export import export_onnx as export

    return export(_predictor(model), out, check_table=check_table, **options)
