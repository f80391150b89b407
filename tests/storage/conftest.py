"""The storage tests save real bundles: they train on the engine tests' small tabular table."""

from tests.engine.conftest import tabular_csv

__all__ = ["tabular_csv"]
