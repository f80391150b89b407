"""The benchmark grid as configuration: methods x datasets x seeds, from a YAML file or from flags.

The file format, with an example the tests run, is in ``docs/bench-grid.md``. In short::

    name: fusions on AV-digits
    seeds: [0, 1, 2]
    common: {epochs: 6}                 # polymodal.fit options shared by every run
    datasets:
      - name: avdigits
        table: data/avdigits.csv        # relative to the YAML file
        target: digit
        options: {split_column: split, ignore: [speaker]}
    methods:
      - {name: concat, options: {fusion: concat}}
      - {name: low-rank r4, options: {fusion: low_rank, fusion_args: {rank: 4}}}
    robustness:
      corruptions: [image_noise, audio_noise]   # names from polymodal.evaluation.corruptions.CORRUPTIONS
      levels: [0, 0.5, 1.0]

Unknown keys are errors; nothing is evaluated as code (``yaml.safe_load``). The names and options are
checked by :func:`polymodal.bench.check.check_grid` before the first run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from polymodal.bench.run import RunSpec
from polymodal.config import read_config_file, validate_config


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetEntry(_Strict):
    name: str
    table: str
    target: list[str]
    options: dict[str, Any] = Field(default_factory=dict, description="polymodal.fit options for this dataset")
    missing: bool = Field(True, description="score the test rows with each modality missing")

    @field_validator("target", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class MethodEntry(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict, description="polymodal.fit options for this method")


class RobustnessEntry(_Strict):
    corruptions: list[str] = Field(default_factory=list)
    levels: list[float] = Field(default_factory=lambda: [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    modalities: list[str] | None = Field(None, description="modalities to corrupt one at a time (default: all)")


class BenchConfig(_Strict):
    name: str = "polymodal benchmark"
    seeds: list[int] = Field(default_factory=lambda: [0])
    common: dict[str, Any] = Field(default_factory=dict, description="polymodal.fit options for every run")
    datasets: list[DatasetEntry]
    methods: list[MethodEntry]
    robustness: RobustnessEntry | None = None
    isolate: bool = Field(True, description="run each fit in a fresh process (own peak memory, crash-proof)")
    timeout: float | None = Field(None, description="seconds before an isolated run is stopped")
    _source: str | None = PrivateAttr(None)

    @property
    def source(self) -> str | None:
        """The grid file this config was read from (None when built in code)."""
        return self._source

    @classmethod
    def from_file(cls, path: str | Path) -> BenchConfig:
        """Load a YAML/JSON grid; dataset tables resolve relative to the file's folder."""
        path = Path(path)
        config = validate_config(cls, read_config_file(path), path)
        for dataset in config.datasets:
            table = Path(dataset.table)
            if not table.is_absolute():
                dataset.table = str((path.parent / table).resolve())
        config._source = str(path)
        return config

    def specs(self, artifacts: str | Path | None = None) -> list[RunSpec]:
        """One run per dataset, method and seed (in that nesting order)."""
        names = [m.name for m in self.methods]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"method names must be unique; repeated: {', '.join(duplicates)}")
        out = []
        for dataset in self.datasets:
            for seed in self.seeds:
                for method in self.methods:
                    options = {"progress": False, **self.common, **dataset.options, **method.options}
                    out.append(RunSpec(
                        method=method.name, dataset=dataset.name, table=dataset.table, target=tuple(dataset.target),
                        seed=seed, options=options, missing=("*",) if dataset.missing else (),
                        artifacts=str(artifacts) if artifacts is not None else None,
                        robustness=self.robustness.model_dump() if self.robustness is not None else None,
                    ))
        return out
