"""Sample shops for demos, tests and benchmarks: the bundled real one and a synthetic one."""

from endcap.sampledata.shop import SampleShop, read_shop, write_shop

__all__ = ["SampleShop", "read_shop", "write_shop"]
