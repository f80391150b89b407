"""Checking a whole benchmark grid before its first run: every problem found without training, at once.

A grid that names a fusion, an encoder or a corruption that does not exist, gives an option
:func:`polymodal.fit` does not take, or points at a table that lacks its target would otherwise train
every run before failing each one. :func:`grid_problems` lists each such problem with the entry that
causes it (``methods[1] 'low-rank r4'``, ``robustness.corruptions[0]``); :func:`check_grid` raises them
as one :class:`~polymodal.config.ConfigError`.

Example
-------
>>> from polymodal.bench.config import BenchConfig
>>> grid = BenchConfig(datasets=[{"name": "d", "table": "t.csv", "target": "y"}],
...                    methods=[{"name": "m", "options": {"fusion": "nope"}}])
>>> grid_problems(grid)[1]  # doctest: +ELLIPSIS
"methods[0] 'm': unknown fusion 'nope'; known fusions: concat, ..."
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from polymodal.config import ConfigError, FitConfig, describe_validation_error, with_options
from polymodal.data.table import column_names
from polymodal.errors import DataError

if TYPE_CHECKING:
    from polymodal.bench.config import BenchConfig


def check_grid(config: BenchConfig, source: str | Path | None = None) -> None:
    """Raise a :class:`ConfigError` listing every problem of ``config`` (``source``: the grid file, named
    in the message); nothing is trained."""
    problems = grid_problems(config)
    if problems:
        head = f"{source}: " if source is not None else ""
        raise ConfigError(f"{head}{len(problems)} problem(s) in the benchmark grid; nothing was run:\n"
                          + "\n".join(f"  {p}" for p in problems))


def grid_problems(config: BenchConfig) -> list[str]:
    """Every problem of the grid, each as ``ENTRY: what is wrong``, without repeats, in grid order."""
    problems: list[str] = []
    if not config.datasets:
        problems.append("datasets: the grid has no dataset; list at least one")
    if not config.methods:
        problems.append("methods: the grid has no method; list at least one")
    if not config.seeds:
        problems.append("seeds: the grid has no seed; give at least one, e.g. [0]")
    problems += _option_problems("common", config.common)
    for i, dataset in enumerate(config.datasets):
        where = f"datasets[{i}] {dataset.name!r}"
        problems += _option_problems(where, dataset.options)
        problems += _table_problems(where, dataset.table, dataset.target, {**config.common, **dataset.options})
    for i, method in enumerate(config.methods):
        problems += _option_problems(f"methods[{i}] {method.name!r}", method.options)
    if not problems:  # a problem of one entry would repeat for every run it is part of
        problems += _combination_problems(config)
    if config.robustness is not None:
        problems += _robustness_problems(config.robustness.corruptions, config.robustness.levels)
    return list(dict.fromkeys(problems))


def _option_problems(where: str, options: Mapping[str, Any]) -> list[str]:
    """Options that :func:`polymodal.fit` does not take, or whose values do not validate on their own."""
    try:
        config = with_options(FitConfig(), {k: v for k, v in options.items() if k != "targets"})
    except TypeError as exc:
        return [f"{where}: {exc}"]
    except ValidationError as exc:
        return [f"{where}: {line.strip()}" for line in describe_validation_error(exc).splitlines()[1:]]
    return [f"{where}: {p}" for p in _name_problems(config)]


def _combination_problems(config: BenchConfig) -> Iterator[str]:
    """What fails only once common, dataset and method options are merged (as each run merges them)."""
    for dataset in config.datasets:
        for method in config.methods:
            merged = {**config.common, **dataset.options, **method.options}
            try:
                with_options(FitConfig(), {**merged, "targets": dataset.target})
            except (TypeError, ValidationError) as exc:
                text = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
                lines = text.splitlines()[1:] if isinstance(exc, ValidationError) else [text]
                for line in lines:
                    yield f"datasets {dataset.name!r} with methods {method.name!r}: {line.strip()}"


def _name_problems(config: FitConfig) -> Iterator[str]:
    """Registered names the config uses that do not exist: fusions (and their arguments), encoders."""
    from polymodal.encoders import ENCODERS
    from polymodal.fusion import settable_arguments

    model = config.model
    fusions = [(model.fusion, model.fusion_args)]
    fusions += [(m.fusion, m.fusion_args or {}) for m in model.ensemble if m.fusion is not None]
    for name, args in fusions:
        try:
            valid = settable_arguments(name)
        except ValueError as exc:
            yield str(exc)
            continue
        unknown = sorted(set(args) - set(valid))
        if unknown:
            yield (f"unknown argument(s) {', '.join(unknown)} for fusion {name!r}; "
                   f"valid arguments: {', '.join(valid) or 'none'}")
    for modality, name in model.encoders.items():
        try:
            ENCODERS.get(name)
        except ValueError as exc:
            yield f"encoders.{modality}: {exc}"


def _table_problems(where: str, table: str, targets: list[str], options: Mapping[str, Any]) -> list[str]:
    """The table must exist and hold the target, split and ignored columns the grid names."""
    try:
        columns = set(column_names(Path(table)))
    except DataError as exc:
        return [f"{where}: {str(exc).splitlines()[0]}"]
    named = [("target", c) for c in targets]
    if options.get("split_column"):
        named.append(("split_column", options["split_column"]))
    named += [("ignore", c) for c in options.get("ignore") or []]
    return [f"{where}: {role} column {column!r} is not in the table {table}"
            for role, column in named if isinstance(column, str) and column not in columns]


def _robustness_problems(corruptions: list[str], levels: list[float]) -> list[str]:
    from polymodal.evaluation.corruptions import CORRUPTIONS

    problems = []
    for i, name in enumerate(corruptions):
        try:
            CORRUPTIONS.get(name)
        except ValueError as exc:
            problems.append(f"robustness.corruptions[{i}]: {exc}")
    outside = [v for v in levels if not 0 <= v <= 1]
    if outside:
        problems.append(f"robustness.levels: every level must be in [0, 1]; got {outside}")
    if levels and (0 not in levels or len(set(levels)) != len(levels)):
        problems.append(f"robustness.levels: levels must be distinct and include 0 (the clean data); got {levels}")
    return problems
