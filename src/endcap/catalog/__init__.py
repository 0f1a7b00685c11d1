"""The catalog: item records, their validation and their filters."""
