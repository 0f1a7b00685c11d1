"""The stream role: apply events to real-time state (shopper histories)."""
