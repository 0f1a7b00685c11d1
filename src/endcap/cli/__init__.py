"""The ``endcap`` command: thin entry points, one per role."""
