"""Tenants: the shops one endcap deployment serves, and their keys."""
