"""Cross-modal generation with a pretrained bundle: one modality generated from another, written as files.

:func:`generate` loads a table's rows, generates modality ``target`` from modality ``source`` with a bundle
pretrained with a generative objective (``vae``, ``autoencoder`` or ``cgan``; see
:mod:`polymodal.models.translation`), undoes the target's preprocessing and writes

* images as 8-bit PNG (the normalisation undone; the image keeps the preprocessed size),
* audio as 16-bit WAV at the preprocessing's sample rate, from the log-mel spectrogram by Griffin-Lim
  (:func:`polymodal.data.audio_features.log_mel_to_waveform`): phases and detail within a mel band are
  estimated, so speech stays recognisable but sounds metallic,

and an index ``generated.csv``: ``row`` (the source row's position in the table), ``sample`` (0..K-1), the
target's column holding the file's path relative to the folder, and the table's columns that are not
inputs of the bundle (labels, splits) copied from the source row. The index is itself a polymodal table:
``polymodal evaluate CLASSIFIER out/generated.csv`` scores a classifier of the target modality on it
(see :mod:`polymodal.evaluation.coherence`).

Example
-------
>>> index = generate("gan/", "avdigits.csv", source="audio", target="image", out="generated/")  # doctest: +SKIP
>>> index.columns.tolist()                                                                    # doctest: +SKIP
['row', 'sample', 'image', 'digit', 'speaker', 'split']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from polymodal.data.kinds import ModalityKind
from polymodal.data.preprocessing.audio import AudioPreprocessor
from polymodal.data.preprocessing.image import ImagePreprocessor
from polymodal.data.table import read_table
from polymodal.datasets.digits import save_png, write_csv_atomic
from polymodal.models.translation import Translator, check_translation
from polymodal.pretrained import PretrainedModel, TableLike
from polymodal.storage.atomic import atomic_write_with

INDEX_NAME = "generated.csv"
WRITABLE = {ModalityKind.IMAGE: ".png", ModalityKind.AUDIO: ".wav"}


def _translator(pretrained: PretrainedModel, source: str, target: str, samples: int) -> Translator:
    model = pretrained.model
    objective = pretrained.config.model.objective
    if not isinstance(model, Translator):
        raise ValueError(f"a bundle pretrained with objective {objective!r} cannot generate; pretrain with "
                         "--objective vae, autoencoder or cgan")
    check_translation(model.modalities, source, target)
    kind = pretrained.pipeline.schema.modality(target).kind
    if kind not in WRITABLE:
        raise ValueError(f"cannot write generated {kind.value} samples of {target!r}: polymodal generate writes "
                         f"image (PNG) and audio (WAV) targets")
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    if samples > 1 and not model.stochastic:
        raise ValueError(f"a {objective!r} bundle generates one deterministic sample per row; use samples=1 "
                         "(or a cgan bundle for several samples)")
    return model


def generate(bundle: str | Path | PretrainedModel, table: TableLike, source: str, target: str, out: str | Path,
             seed: int = 0, samples: int = 1, batch_size: int = 256, on_error: str | None = None) -> pd.DataFrame:
    """Generate ``target`` from ``source`` for every row of ``table`` that has ``source``; write the files
    and ``out/generated.csv`` (see the module docstring) and return the index.

    The same bundle, table, ``seed`` and ``batch_size`` give the same samples.
    """
    pretrained = bundle if isinstance(bundle, PretrainedModel) else PretrainedModel.load(bundle)
    model = _translator(pretrained, source, target, samples)
    tbl = read_table(table)
    data = pretrained.encode_table(tbl, on_error)
    rows = np.flatnonzero(data.masks[source].numpy())
    if len(rows) == 0:
        raise ValueError(f"no row of the table has modality {source!r} to generate from")
    out = Path(out)
    spec = pretrained.pipeline.schema.modality(target)
    column = spec.columns[0]
    extension = WRITABLE[spec.kind]
    generator = torch.Generator().manual_seed(seed)
    pretrained.model.eval()
    records: list[dict[str, object]] = []
    for start in range(0, len(rows), batch_size):
        part = data.subset(rows[start:start + batch_size])
        for k in range(samples):
            values = model.translate(part.inputs, part.masks, source, target, generator)
            for row, path in zip(part.rows, _write(pretrained, target, values, out, part.rows, k, extension, seed),
                                 strict=True):
                records.append({"row": int(row), "sample": k, column: path})
    return _write_index(records, tbl.frame, pretrained, column, out)


def _write(pretrained: PretrainedModel, target: str, values: torch.Tensor, out: Path, rows: np.ndarray, k: int,
           extension: str, seed: int) -> list[str]:
    """Decode one batch of generated ``values`` and write one file per row; the paths relative to ``out``."""
    pre = pretrained.pipeline.preprocessors[target]
    paths = [f"{target}/row{int(r):06d}_{k}{extension}" for r in rows]
    if isinstance(pre, ImagePreprocessor):
        for path, pixels in zip(paths, pre.inverse_transform(values), strict=True):
            save_png(out / path, pixels)
    elif isinstance(pre, AudioPreprocessor):
        for path, wave in zip(paths, pre.inverse_transform(values, seed=seed), strict=True):
            _save_wav(out / path, wave, pre.sample_rate)
    else:  # pragma: no cover - _translator admits only the kinds above
        raise TypeError(f"cannot write {type(pre).__name__} outputs")
    return paths


def _save_wav(path: Path, wave: np.ndarray, sample_rate: int) -> None:
    def write(tmp: Path) -> None:
        sf.write(tmp, wave, sample_rate, format="WAV", subtype="PCM_16")

    atomic_write_with(path, write)


def _write_index(records: list[dict[str, object]], frame: pd.DataFrame, pretrained: PretrainedModel, column: str,
                 out: Path) -> pd.DataFrame:
    index = pd.DataFrame.from_records(records)
    inputs = {c for m in pretrained.pipeline.schema.modalities for c in m.columns}
    extra = [c for c in frame.columns if c not in inputs and c not in index.columns]
    if extra:
        copied = frame.iloc[index["row"].to_numpy()][extra].reset_index(drop=True)
        index = pd.concat([index, copied], axis=1)
    write_csv_atomic(index, out / INDEX_NAME)
    return index
