"""The recommenders ``endcap evaluate`` compares (a stub until endcap's own models are
added here)."""

from __future__ import annotations

from endcap.catalog.model import Item
from endcap.quality.baselines import Ease, MostPopular
from endcap.quality.run import Recommender


def default_recommenders(items: list[Item]) -> list[Recommender]:
    """The recommenders to evaluate; ``items`` is the catalog, when one is given."""
    del items  # the references need no catalog
    return [MostPopular(), Ease()]
