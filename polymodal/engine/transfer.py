"""Transfer from a trained bundle: a new model starts from another model's encoders (and trunk).

Model-level transfer (``fit --init-from BUNDLE``) initialises the encoder of every modality the source
bundle has (a ``pretrain`` bundle or a supervised ``fit`` bundle) from its weights. An encoder's weights
only make sense on the inputs it was trained on, so the source's *fitted preprocessors* of those
modalities are reused as they are (never refitted) along with its encoder names and arguments; the
new bundle holds copies of both and never needs the source again. Modalities the source lacks are
built fresh. Task-level transfer (``transfer="trunk"``, from a supervised bundle) also reuses the
fusion, a trunk trained for one target, under new heads for another. ``freeze`` keeps the transferred
weights fixed.

Example
-------
>>> source = TransferSource.load("contrastive-bundle/")                   # doctest: +SKIP
>>> config.model = source.resolve(config.model, schema)                   # doctest: +SKIP
>>> report = source.initialise(model, transfer="encoders", freeze=True)   # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from torch import Tensor, nn

from polymodal.config import FitConfig, ModelConfig, PretrainConfig
from polymodal.data.pipeline import DataPipeline
from polymodal.data.preprocessing import Preprocessor
from polymodal.data.schema import ModalitySpec, Schema
from polymodal.errors import BundleError
from polymodal.fusion import FUSIONS
from polymodal.models.builder import encoder_choice
from polymodal.models.freezing import Freezable
from polymodal.models.multitower import MultiTowerModel
from polymodal.storage.bundle import load_bundle

logger = logging.getLogger(__name__)
TRANSFER_MODES = ("encoders", "trunk")
TRUNK = "fusions.shared"
Config = TypeVar("Config", bound=BaseModel)


@dataclass
class TransferSource:
    """What a bundle gives a new model: per modality its schema entry, fitted preprocessor, encoder
    (name, arguments) and weights; for a supervised bundle with a shared fusion, that fusion."""

    path: Path
    kind: str
    modalities: dict[str, ModalitySpec]
    preprocessors: dict[str, Preprocessor]
    encoders: dict[str, tuple[str, dict[str, Any]]]
    weights: dict[str, Tensor]
    fusion: tuple[str, dict[str, Any]] | None = None

    @classmethod
    def load(cls, path: str | Path) -> TransferSource:
        """Read a ``pretrained`` or ``supervised`` bundle (never a pickle)."""
        path = Path(path)
        contents = load_bundle(path)
        if contents.kind not in ("pretrained", "supervised"):
            raise BundleError(f"{path} holds a {contents.kind!r} model; transfer reads bundles of `polymodal "
                              f"pretrain` or `polymodal fit`")
        config: Any = (PretrainConfig if contents.kind == "pretrained" else FitConfig).model_validate(contents.config)
        fusion = _shared_fusion(config.model, path) if contents.kind == "supervised" else None
        pipeline = DataPipeline.from_state(contents.pipeline_state, contents.pipeline_arrays)
        specs = {spec.name: spec for spec in pipeline.schema.modalities}
        encoders = {name: encoder_choice(config.model.encoders, config.model.encoder_args, name, spec.kind)
                    for name, spec in specs.items()}
        return cls(path, contents.kind, specs, dict(pipeline.preprocessors), encoders, contents.weights, fusion)

    def resolve(self, model: Config, schema: Schema, transfer: str = "encoders",
                left_out: Sequence[str] = ()) -> Config:
        """``model`` (a :class:`ModelConfig` or :class:`PretrainModelConfig`) with the source's encoders
        for its modalities (and, for ``transfer="trunk"``, its fusion). Checks that ``schema`` (the new
        table's) has each of the source's modalities, of the same kind and columns (``left_out``: the
        columns the run leaves out, for the error's advice)."""
        if transfer not in TRANSFER_MODES:
            raise ValueError(f"unknown transfer {transfer!r}; choose one of {', '.join(TRANSFER_MODES)}")
        self.check_schema(schema, left_out)
        values = model.model_dump()
        encoders, args = dict(values["encoders"]), {k: dict(v) for k, v in values["encoder_args"].items()}
        for name, (encoder, encoder_args) in self.encoders.items():
            chosen = encoders.get(name)
            if chosen is not None and chosen != encoder:
                raise ValueError(f"modality {name!r}: the encoder {chosen!r} asked for differs from the "
                                 f"{encoder!r} of {self.path}, whose weights initialise it; drop that setting")
            if name in args and args[name] != encoder_args:
                raise ValueError(f"modality {name!r}: encoder arguments {args[name]} differ from those of "
                                 f"{self.path} ({encoder_args}), whose weights initialise it; drop them")
            encoders[name], args[name] = encoder, dict(encoder_args)
        values.update(encoders=encoders, encoder_args=args)
        if transfer == "trunk":
            values.update(self._trunk(values, schema))
        return type(model).model_validate(values)

    def check_schema(self, schema: Schema, left_out: Sequence[str] = ()) -> None:
        """Every modality of the source must be in the table, with the same kind and columns; the error says
        what to do about each difference (the ``--ignore``/``--modality`` flags that make the table match, or
        the columns to add). ``left_out`` are the columns the run leaves out (ignored, the split column)."""
        table = {spec.name: spec for spec in schema.modalities}
        kinds = {c: (spec.name, spec.kind) for spec in schema.modalities for c in spec.columns}
        targets = {t.column for t in schema.targets}
        problems = []
        for name, spec in self.modalities.items():
            new = table.get(name)
            if new is None:
                hint = "; ".join(_lacking_hints(list(spec.columns), kinds, targets, left_out))
                problems.append(f"modality {name!r} ({spec.kind.value}) of the source is not in the table "
                                f"(its modalities: {sorted(table)}); {hint}")
            elif new.kind is not spec.kind:
                problems.append(f"modality {name!r} is {new.kind.value} in the table but {spec.kind.value} in "
                                f"the source; give it the source's kind: "
                                + " ".join(f"--modality {c}={spec.kind.value}" for c in new.columns))
            elif new.columns != spec.columns:
                problems.append(f"modality {name!r} has columns {new.columns} in the table but {spec.columns} "
                                f"in the source; {self._columns_hint(spec, new, kinds, targets, left_out)}")
        if problems:
            raise ValueError(f"cannot transfer from {self.path}: " + "; ".join(problems))

    @staticmethod
    def _columns_hint(spec: ModalitySpec, new: ModalitySpec, kinds: Mapping[str, Any], targets: set[str],
                      left_out: Sequence[str]) -> str:
        extra = [c for c in new.columns if c not in spec.columns]
        lacking = [c for c in spec.columns if c not in new.columns]
        hints = []
        if extra:
            hints.append("leave out the columns the source never saw: " + " ".join(f"--ignore {c}" for c in extra))
        hints.extend(_lacking_hints(lacking, kinds, targets, left_out))
        return "; ".join(hints) if hints else "the columns are in another order: reorder the table's columns"

    def _trunk(self, values: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
        if self.fusion is None:
            reason = ("a pretrain bundle has no fusion trunk" if self.kind == "pretrained"
                      else "its fusion makes per-target predictions (late fusion), with no shared trunk")
            raise ValueError(f"transfer='trunk' needs a supervised bundle with a shared fusion; {self.path}: {reason}; "
                             f"use transfer='encoders'")
        extra = sorted({m.name for m in schema.modalities} - set(self.modalities))
        if extra:
            raise ValueError(f"transfer='trunk': the fusion of {self.path} reads {sorted(self.modalities)}, but the "
                             f"table also has {extra}; ignore those columns or use transfer='encoders'")
        name, args = self.fusion
        if (values["fusion"], values["fusion_args"]) != (name, args):
            logger.info("transfer='trunk': the fusion %r %s of %s replaces %r", name, args, self.path,
                        values["fusion"])
        return {"fusion": name, "fusion_args": dict(args)}

    def initialise(self, model: nn.Module, transfer: str = "encoders", freeze: bool = False) -> dict[str, Any]:
        """Copy the source's weights into ``model`` (every tower of a multi-tower model) and freeze them
        if asked; returns what was done (for the run's metrics)."""
        towers = list(model.towers.values()) if isinstance(model, MultiTowerModel) else [model]
        parts = [f"encoders.{name}" for name in self.modalities]
        if transfer == "trunk":
            parts.append(TRUNK)
        for tower in towers:
            for part in parts:
                self._load_part(tower, part)
            if freeze:
                if not isinstance(tower, Freezable):
                    raise TypeError(f"{type(tower).__name__} cannot freeze submodules")
                tower.freeze(parts)
        fresh = sorted(set(getattr(towers[0], "encoders", {})) - set(self.modalities))
        if fresh:
            logger.info("transfer from %s: modalities %s are not in the source; their encoders start fresh",
                        self.path, fresh)
        return {"source": str(self.path), "source_kind": self.kind, "transfer": transfer,
                "initialised": parts, "fresh": fresh, "frozen": parts if freeze else []}

    def _load_part(self, model: nn.Module, part: str) -> None:
        try:
            module = model.get_submodule(part)
        except AttributeError:
            raise ValueError(f"the new model has no {part!r} to initialise from {self.path}") from None
        prefix = f"{part}."
        state = {k[len(prefix):]: v for k, v in self.weights.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"the weights of {part!r} in {self.path} do not fit the new model's: {exc}") from None


def _lacking_hints(lacking: list[str], kinds: Mapping[str, Any], targets: set[str],
                   left_out: Sequence[str]) -> list[str]:
    """What to do about the source's input columns this run does not give its modality."""
    hints = []
    label = [c for c in lacking if c in targets]
    if label:
        hints.append(f"the source learnt from {label} as input(s), and here they are the target(s): a model "
                     f"that saw the labels cannot be transferred to predict them; train the source again with "
                     + " ".join(f"--ignore {c}" for c in label))
    dropped = [c for c in lacking if c in left_out]
    if dropped:
        hints.append(f"the source read {dropped}, which this run leaves out (--ignore, --split-column): train the "
                     "source without them too (" + " ".join(f"--ignore {c}" for c in dropped) + " when pretraining), "
                     "or stop leaving them out")
    elsewhere = [c for c in lacking if c in kinds and c not in targets]
    if elsewhere:
        hints.append("the table gives " + ", ".join(f"{c!r} to modality {kinds[c][0]!r} ({kinds[c][1].value})"
                                                      for c in elsewhere)
                     + ": set its kind with --modality COL=KIND as the source's table had it")
    absent = [c for c in lacking if c not in kinds and c not in targets and c not in left_out]
    if absent:
        hints.append(f"add the column(s) {absent} to the table, or train the source without them "
                     "(--ignore when pretraining)")
    return hints


def _shared_fusion(model: ModelConfig, path: Path) -> tuple[str, dict[str, Any]] | None:
    if model.sharing != "hard":
        raise ValueError(f"{path} is a multi-tower model (sharing={model.sharing!r}); transfer reads a model "
                         f"with one trunk (sharing='hard')")
    factory = FUSIONS.get(model.fusion).factory
    if getattr(factory, "raw_inputs", False):
        raise ValueError(f"{path} uses the early fusion {model.fusion!r}, which feeds raw inputs: it has no "
                         f"trained encoders to transfer")
    if getattr(factory, "produces_predictions", False):
        return None
    return model.fusion, dict(model.fusion_args)
