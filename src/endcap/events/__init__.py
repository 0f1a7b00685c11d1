"""Shopper events: their schema, validation and the append-only log."""
