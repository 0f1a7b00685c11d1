"""Offline evaluation: the canonical interaction format, splits, metrics, and runs."""
