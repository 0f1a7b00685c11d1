"""Observability: metrics (and later logs and traces) for each role."""
