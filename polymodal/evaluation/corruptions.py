"""Seeded corruptions of loaded cells, per column kind, at a level in ``[0, 1]``.

A corruption acts on the raw values of a :class:`~polymodal.data.validation.LoadedTable` (pixels,
waveforms, strings, numbers, vectors), before any preprocessing, and returns a new table; the input
is never modified. Three promises hold for every corruption in :data:`CORRUPTIONS`:

- level ``0`` is the identity: the corrupted table equals the input exactly;
- the same ``seed`` gives the same corrupted table;
- a missing cell stays missing (only present cells are corrupted).

Corrupting text can empty a cell (every word dropped); preprocessing then treats it as absent.

Example
-------
>>> noisy = corrupt(loaded, schema, "image_noise", 0.4, seed=0)          # doctest: +SKIP
>>> CORRUPTIONS.create("blur", scale=0.2).kinds                          # doctest: +SKIP
frozenset({<ColumnKind.IMAGE: 'image'>})
"""

from __future__ import annotations

import re
import string
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from polymodal.data.cells import is_missing
from polymodal.data.file_sample import decoded
from polymodal.data.kinds import ColumnKind
from polymodal.data.schema import Schema
from polymodal.data.validation import LoadedTable
from polymodal.registry import Registry


class Corruption(ABC):
    """Corrupts the present cells of one column; ``kinds`` are the column kinds it applies to.

    ``random`` is False for a deterministic corruption (the seed then only picks the rows when
    ``fraction < 1``).
    """

    name: ClassVar[str]
    kinds: ClassVar[frozenset[ColumnKind]]
    random: ClassVar[bool] = True

    @abstractmethod
    def corrupt_column(self, values: list[Any], kind: ColumnKind, level: float,
                       rng: np.random.Generator) -> list[Any]:
        """Corrupted copies of ``values`` (present cells of one column, never missing), in order.

        Must return ``values`` unchanged (equal) at ``level == 0`` and never modify them in place.
        """


# -- images: uint8 (H, W) or (H, W, 3) ----------------------------------------------------------
def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


class ImageNoise(Corruption):
    """Additive Gaussian pixel noise; std = ``level * scale`` of the pixel range (255)."""

    name = "image_noise"
    kinds = frozenset({ColumnKind.IMAGE})

    def __init__(self, scale: float = 0.5) -> None:
        self.scale = scale

    def corrupt_column(self, values: list[Any], kind: ColumnKind, level: float,
                       rng: np.random.Generator) -> list[Any]:
        std = level * self.scale * 255.0
        return [_to_uint8(v + rng.normal(0.0, 1.0, v.shape) * std) for v in values]


class ImageBlur(Corruption):
    """Gaussian blur; sigma = ``level * scale * min(H, W)`` pixels (colour channels kept apart)."""

    name = "blur"
    kinds = frozenset({ColumnKind.IMAGE})
    random = False

    def __init__(self, scale: float = 0.15) -> None:
        self.scale = scale

    def corrupt_column(self, values: list[Any], kind: ColumnKind, level: float,
                       rng: np.random.Generator) -> list[Any]:
        out = []
        for image in values:
            sigma = level * self.scale * min(image.shape[:2])
            if sigma == 0:
                out.append(image.copy())
                continue
            sigmas = (sigma, sigma, 0.0) if image.ndim == 3 else (sigma, sigma)
            out.append(_to_uint8(gaussian_filter(image.astype(np.float32), sigma=sigmas)))
        return out


class Occlusion(Corruption):
    """A square patch of ``fill`` at a random place, covering a ``level`` share of the shorter side squared."""

    name = "occlusion"
    kinds = frozenset({ColumnKind.IMAGE})

    def __init__(self, fill: int = 0) -> None:
        self.fill = fill

    def corrupt_column(self, values: list[Any], kind: ColumnKind, level: float,
                       rng: np.random.Generator) -> list[Any]:
        out = []
        for image in values:
            height, width = image.shape[:2]
            side = round(np.sqrt(level) * min(height, width))
            top = int(rng.integers(0, height - side + 1))
            left = int(rng.integers(0, width - side + 1))
            occluded = image.copy()
            occluded[top:top + side, left:left + side] = self.fill
            out.append(occluded)
        return out


# -- audio: (float32 samples, sample rate) --------------------------------------------------------
class AudioNoise(Corruption):
    """Additive white noise at an SNR set by the level: noise RMS = ``level * scale`` x signal RMS.

    With ``scale=1`` the SNR is ``-20 log10(level)`` dB (level 0.1: 20 dB, level 1: 0 dB). A silent
    waveform stays silent, and every waveform keeps its own signal: noise is added, never substituted.
    """

    name = "audio_noise"
    kinds = frozenset({ColumnKind.AUDIO})

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def corrupt_column(self, values: list[Any], kind: ColumnKind, level: float,
                       rng: np.random.Generator) -> list[Any]:
        out = []
        for samples, rate in values:
            rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
            noise = rng.normal(0.0, 1.0, samples.shape) * (level * self.scale * rms)
            out.append(((samples + noise).astype(np.float32), rate))
        return out


class TimeMask(Corruption):
    """Silences one contiguous stretch covering a ``level`` share of the waveform, at a random start."""

    name = "time_mask"
    kinds = frozenset({ColumnKind.AUDIO})

    def corrupt_column(self, values: list[Any], kind: ColumnKind, level: float,
                       rng: np.random.Generator) -> list[Any]:
        out = []
        for samples, rate in values:
            length = round(level * len(samples))
            start = int(rng.integers(0, len(samples) - length + 1))
            masked = samples.copy()
            masked[start:start + length] = 0.0
            out.append((masked, rate))
        return out


# -- text -----------------------------------------------------------------------------------------
_WORD = re.compile(r"\s*\S+")


class WordDropout(Corruption):
    """Drops each word with probability ``level`` (the whitespace of kept words is kept as it was)."""

    name = "word_dropout"
    kinds = frozenset({ColumnKind.TEXT})

    def corrupt_column(self, values: list[Any], kind: ColumnKind, level: float,
                       rng: np.random.Generator) -> list[Any]:
        out = []
        for text in values:
            pieces = _WORD.findall(text)
            keep = rng.random(len(pieces)) >= level
            tail = text[sum(map(len, pieces)):]
            out.append("".join(p for p, k in zip(pieces, keep) if k) + tail)
        return out


class Typos(Corruption):
    """Edits each character with probability ``level * rate``: a swap with the next one, a deletion or
    a substitution by a random lowercase letter (each equally likely)."""

    name = "typos"
    kinds = frozenset({ColumnKind.TEXT})

    def __init__(self, rate: float = 0.5) -> None:
        self.rate = rate

    def corrupt_column(self, values: list[Any], kind: ColumnKind, level: float,
                       rng: np.random.Generator) -> list[Any]:
        return [self._typos(text, level * self.rate, rng) for text in values]

    @staticmethod
    def _typos(text: str, probability: float, rng: np.random.Generator) -> str:
        chars = list(text)
        edits = rng.random(len(chars)) < probability
        operations = rng.integers(0, 3, len(chars))
        letters = rng.choice(list(string.ascii_lowercase), len(chars))
        out: list[str] = []
        i = 0
        while i < len(chars):
            if not edits[i]:
                out.append(chars[i])
            elif operations[i] == 0 and i + 1 < len(chars):  # swap with the next character
                out += [chars[i + 1], chars[i]]
                i += 1
            elif operations[i] != 1:  # substitute (also a swap at the last character)
                out.append(str(letters[i]))
            i += 1  # operation 1 deletes: nothing appended
        return "".join(out)


# -- tabular: numeric floats and categorical strings ---------------------------------------------
def _spread(matrix: np.ndarray) -> np.ndarray:
    """Standard deviation per column over the rows; 1 where it is zero (a constant column)."""
    std = matrix.std(axis=0)
    return np.where(std > 0, std, 1.0)


class TabularNoise(Corruption):
    """Gaussian noise on standardised numbers: ``x + level * scale * std * N(0, 1)``, with ``std`` the
    column's standard deviation over the corrupted rows (1 for a constant column)."""

    name = "tabular_noise"
    kinds = frozenset({ColumnKind.NUMERIC})

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def corrupt_column(self, values: list[Any], kind: ColumnKind, level: float,
                       rng: np.random.Generator) -> list[Any]:
        x = np.asarray(values, dtype=np.float64)
        std = float(_spread(x[:, None])[0])
        return list(x + rng.normal(0.0, 1.0, x.shape) * (level * self.scale * std))


class Swap(Corruption):
    """Swaps a ``level`` share of the cells: numbers move between rows (each chosen row takes another
    chosen row's value); categories are replaced by another category seen in the column."""

    name = "swap"
    kinds = frozenset({ColumnKind.NUMERIC, ColumnKind.CATEGORICAL})

    def corrupt_column(self, values: list[Any], kind: ColumnKind, level: float,
                       rng: np.random.Generator) -> list[Any]:
        out = list(values)
        chosen = rng.choice(len(values), size=round(level * len(values)), replace=False)
        if kind is ColumnKind.NUMERIC:
            order = rng.permutation(chosen)
            for target, source in zip(order, np.roll(order, -1)):
                out[target] = values[source]
            return out
        categories = sorted(set(values))
        for row in chosen:
            others = [c for c in categories if c != values[row]]
            if others:
                out[row] = others[int(rng.integers(len(others)))]
        return out


# -- vectors: float32 (D,) -------------------------------------------------------------------------
class VectorNoise(Corruption):
    """Gaussian noise on standardised vectors: per dimension ``level * scale * std * N(0, 1)``."""

    name = "vector_noise"
    kinds = frozenset({ColumnKind.VECTOR})

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def corrupt_column(self, values: list[Any], kind: ColumnKind, level: float,
                       rng: np.random.Generator) -> list[Any]:
        matrix = np.stack(values).astype(np.float64)
        noisy = matrix + rng.normal(0.0, 1.0, matrix.shape) * (level * self.scale * _spread(matrix))
        return [row.astype(v.dtype) for row, v in zip(noisy, values)]


class KindNoise(Corruption):
    """Each kind's own noise: image_noise, audio_noise, typos (text), tabular_noise (numbers),
    swap (categories) and vector_noise, with their default settings."""

    name = "noise"
    kinds = frozenset(k for k in ColumnKind if k is not ColumnKind.IGNORE)

    def __init__(self) -> None:
        self.by_kind: dict[ColumnKind, Corruption] = {
            ColumnKind.IMAGE: ImageNoise(), ColumnKind.AUDIO: AudioNoise(), ColumnKind.TEXT: Typos(),
            ColumnKind.NUMERIC: TabularNoise(), ColumnKind.CATEGORICAL: Swap(), ColumnKind.VECTOR: VectorNoise(),
        }

    def corrupt_column(self, values: list[Any], kind: ColumnKind, level: float,
                       rng: np.random.Generator) -> list[Any]:
        return self.by_kind[kind].corrupt_column(values, kind, level, rng)


CORRUPTIONS: Registry[Corruption] = Registry("corruption")
for _cls in (ImageNoise, ImageBlur, Occlusion, AudioNoise, TimeMask, WordDropout, Typos, TabularNoise, Swap,
             VectorNoise, KindNoise):
    # the description is the first paragraph of the docstring, on one line
    CORRUPTIONS.register(_cls.name, " ".join((_cls.__doc__ or "").split("\n\n")[0].split()))(_cls)


def corruption_kinds(name: str) -> frozenset[ColumnKind]:
    """The column kinds the registered corruption ``name`` applies to."""
    return CORRUPTIONS.create(name).kinds


def corruptions_for(kind: ColumnKind | str) -> list[str]:
    """Names of the registered corruptions that apply to columns of ``kind``."""
    kind = ColumnKind(kind)
    return [name for name in CORRUPTIONS.names() if kind in corruption_kinds(name)]


def _check_unit(name: str, value: float, allow_zero: bool = True) -> None:
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= 1):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")


def resolve_corruption(corruption: str | Corruption) -> Corruption:
    """A registered corruption's name (built with its defaults) or a :class:`Corruption`, as a Corruption."""
    if isinstance(corruption, Corruption):
        return corruption
    if isinstance(corruption, str):
        return CORRUPTIONS.create(corruption)
    raise TypeError(f"corruption must be a registered name or a Corruption, got {type(corruption).__name__}")


def _kinds_text(kinds: frozenset[ColumnKind]) -> str:
    return ", ".join(sorted(k.value for k in kinds))


def _targets(schema: Schema, corruption: Corruption, modality: str | Sequence[str] | None) -> list[str]:
    """The modalities to corrupt; an unknown modality or one the corruption does not apply to is an error."""
    specs = {spec.name: spec for spec in schema.modalities}
    if modality is None:
        names = [n for n, spec in specs.items() if corruption.kinds & set(spec.column_kinds.values())]
        if not names:
            kinds = frozenset(k for spec in specs.values() for k in spec.column_kinds.values())
            valid = sorted({c for k in kinds for c in corruptions_for(k)})
            raise ValueError(
                f"corruption {corruption.name!r} applies to {_kinds_text(corruption.kinds)} columns, and this "
                f"table has none (it has {_kinds_text(kinds)}); corruptions that apply: {', '.join(valid)}"
            )
        return names
    names = [modality] if isinstance(modality, str) else list(modality)
    for name in names:
        if name not in specs:
            raise ValueError(f"unknown modality {name!r}; modalities: {', '.join(specs)}")
        kinds = frozenset(specs[name].column_kinds.values())
        if not corruption.kinds & kinds:
            valid = sorted({c for k in kinds for c in corruptions_for(k)})
            raise ValueError(
                f"corruption {corruption.name!r} applies to {_kinds_text(corruption.kinds)} columns, but modality "
                f"{name!r} holds {_kinds_text(kinds)}; corruptions for {name!r}: {', '.join(valid)}"
            )
    return names


def _rng(seed: int, *keys: str) -> np.random.Generator:
    # crc32, not hash(): the same names give the same stream in every process
    return np.random.default_rng([seed, *(zlib.crc32(k.encode()) for k in keys)])


def _replace(series: pd.Series, positions: np.ndarray, values: list[Any]) -> pd.Series:
    cells = np.empty(len(series), dtype=object)
    cells[:] = series.tolist()
    for position, value in zip(positions, values):
        cells[position] = value
    return pd.Series(cells, index=series.index, name=series.name).astype(series.dtype)


def corrupt(
    loaded: LoadedTable,
    schema: Schema,
    corruption: str | Corruption,
    level: float,
    *,
    modality: str | Sequence[str] | None = None,
    seed: int = 0,
    fraction: float = 1.0,
) -> LoadedTable:
    """A copy of ``loaded`` with ``corruption`` applied at ``level`` to ``modality`` (all it applies to
    when None).

    ``fraction`` of the rows (chosen with ``seed``, per modality) are corrupted; the other rows keep
    their cells exactly. Within a modality only the columns of the kinds the corruption applies to
    change (e.g. ``tabular_noise`` leaves categorical columns alone). Cells of untouched columns are
    shared with ``loaded``, not copied: treat both tables as read-only.
    """
    _check_unit("level", level)
    _check_unit("fraction", fraction, allow_zero=False)
    method = resolve_corruption(corruption)
    modalities = {name: frame.copy() for name, frame in loaded.modalities.items()}
    for name in _targets(schema, method, modality):
        spec = schema.modality(name)
        frame = modalities[name]
        chosen = np.zeros(len(frame), dtype=bool)
        chosen[_rng(seed, name).choice(len(frame), size=round(fraction * len(frame)), replace=False)] = True
        for column in spec.columns:
            kind = spec.column_kinds[column]
            if kind not in method.kinds:
                continue
            present = np.fromiter((not is_missing(v) for v in frame[column]), bool, len(frame))
            positions = np.flatnonzero(present & chosen)
            if len(positions) == 0:
                continue
            cells = [decoded(frame[column].iat[int(p)]) for p in positions]  # files kept undecoded are read now
            values = method.corrupt_column(cells, kind, float(level),
                                           _rng(seed, name, column))
            frame[column] = _replace(frame[column], positions, values)
    return LoadedTable(modalities, loaded.targets.copy(), loaded.rows.copy(), loaded.report)
