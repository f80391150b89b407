"""Evaluation: task metrics, robustness, retrieval, probes."""
