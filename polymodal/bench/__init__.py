"""Benchmark runner, results tables and the HTML report."""
