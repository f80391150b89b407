"""A joint model (CLIP, SigLIP, CLAP) as a representation, with no training: ``embed``, ``retrieve``,
``zero-shot`` straight from ``hf:NAME``.

:func:`from_joint` builds the :class:`~polymodal.pretrained.PretrainedModel` that ``pretrain`` would
start from: a contrastive model whose two modalities are the model's towers, frozen (embeddings
through the cache), no projection head, the model's own logit scale. Nothing is fitted on data
(the towers' preprocessing is the model's processor), so it needs the table only to know the
columns. It can be saved as a bundle like any other.

Example
-------
>>> model = from_joint("hf:openai/clip-vit-base-patch32", "photos.csv")   # doctest: +SKIP
>>> model.embed("photos.csv", modalities=["photo"]).shape                 # doctest: +SKIP
(120, 512)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from polymodal.config import PretrainConfig, with_options
from polymodal.data.kinds import ColumnKind, ModalityKind
from polymodal.data.pipeline import DataPipeline
from polymodal.data.schema import ModalitySpec, Schema, infer_schema
from polymodal.data.table import Table, read_table
from polymodal.data.validation import LoadedTable, ValidationReport
from polymodal.encoders.pretrained import with_pretrained_preprocessing
from polymodal.encoders.pretrained.joint import (
    HF_PREFIX,
    JointModelError,
    joint_columns,
    joint_kinds,
    with_joint_encoders,
)
from polymodal.models.objectives import build_representation_model
from polymodal.pretrained import PretrainedModel, TableLike

_EXAMPLES: dict[ModalityKind, Any] = {
    ModalityKind.IMAGE: np.zeros((8, 8), dtype=np.uint8),
    ModalityKind.AUDIO: (np.zeros(1600, dtype=np.float32), 16000),
    ModalityKind.TEXT: "a",
}


def is_joint_name(value: str | Path) -> bool:
    """Whether a command's model argument names a joint model (``hf:NAME``) rather than a bundle."""
    return isinstance(value, str) and value.startswith(HF_PREFIX)


def from_joint(model: str, table: TableLike | None = None, columns: str | None = None,
               **options: Any) -> PretrainedModel:
    """The untrained representation of joint model ``model`` (``hf:NAME_OR_PATH``) over two columns.

    ``columns`` is ``"A+B"`` (column names or kinds, as in ``--encoder A+B=hf:...``); by default the
    model's kinds (``image+text`` or ``audio+text``), which name the table's only column of each kind.
    A text column the table lacks is named ``text`` (zero-shot needs only the prompts). ``options``
    are fields of :class:`~polymodal.config.PretrainConfig` (``preprocess``, ``encoder_args``, ...).
    """
    if not is_joint_name(model):
        raise JointModelError(f"{model!r} is not a joint model name; give hf:NAME (a hub name) or hf:PATH (a folder)")
    key = columns or "+".join(k.value for k in joint_kinds(model))
    frame = read_table(table).frame if table is not None else pd.DataFrame()
    kinds = {m.name: m.kind for m in infer_schema(frame, []).modalities} if len(frame.columns) else {}
    pair = joint_columns(key, kinds, missing_text="text")
    cfg = with_options(PretrainConfig(), {"objective": "contrastive", **options,
                                          "encoders": {**options.get("encoders", {}), "+".join(pair): model}})
    pair_kinds = {c: kinds.get(c, ModalityKind.TEXT) for c in pair}
    cfg = cfg.model_copy(update={"model": with_joint_encoders(cfg.model, pair_kinds)})
    schema = Schema([ModalitySpec(c, k, [c], {c: ColumnKind(k.value)}) for c, k in pair_kinds.items()], [])
    preprocess = with_pretrained_preprocessing(cfg.data.preprocess, cfg.model.encoders, cfg.model.encoder_args,
                                               pair_kinds)
    pipeline = DataPipeline(schema, preprocess)
    pipeline.fit(_example_table(pair_kinds), np.arange(1))  # nothing is learned: the model's processor is fixed
    net = build_representation_model("contrastive", pipeline.input_info(), pair_kinds, cfg.model.encoders,
                                     cfg.model.encoder_args, cfg.model.objective_args, cfg.model.augment)
    return PretrainedModel(cfg, pipeline, net, {"joint_model": model, "trained": False})


def _example_table(kinds: Mapping[str, ModalityKind]) -> LoadedTable:
    return LoadedTable({c: pd.DataFrame({c: [_EXAMPLES[k]]}) for c, k in kinds.items()}, pd.DataFrame(index=[0]),
                       np.arange(1), ValidationReport(n_rows=1))


def with_model_columns(model: PretrainedModel, table: TableLike, keep: str | None = None) -> Table:
    """``table`` with the model's columns it lacks added as missing cells (a zero-shot table of photos
    needs no caption column), except ``keep``, which must be there."""
    tbl = read_table(table)
    absent = [c for spec in model.pipeline.schema.modalities for c in spec.columns if c not in tbl.frame.columns]
    if keep is not None:
        needed = [c for c in model.pipeline.schema.modality(keep).columns if c in absent]
        if needed:
            raise JointModelError(f"the table {tbl.source} lacks column(s) {needed} of modality {keep!r}; it has "
                                  f"{', '.join(map(str, tbl.frame.columns))}")
    if not absent:
        return tbl
    frame = tbl.frame.copy()
    for column in absent:
        frame[column] = None
    return Table(frame, tbl.base_dir, tbl.source)
