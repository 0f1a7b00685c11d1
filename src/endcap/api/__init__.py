"""The api role: the ASGI web service."""
