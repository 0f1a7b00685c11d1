"""Strategies: each turns a request context into ranked candidate items."""
