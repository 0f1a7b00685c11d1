"""The pod schema: a placement's configuration, and the experiment running on it."""

from __future__ import annotations

from endcap.experiments.model import Experiment
from endcap.pods.config import (
    MAX_RESULTS,
    POD_ID_PATTERN,
    SEMANTIC,
    STRATEGIES,
    Boost,
    Filters,
    PodBody,
    PodId,
    Rules,
    StrategyName,
)

__all__ = ["MAX_RESULTS", "POD_ID_PATTERN", "SEMANTIC", "STRATEGIES", "Boost", "Filters",
           "Pod", "PodBody", "PodId", "Rules", "StrategyName"]


class Pod(PodBody, kw_only=True):
    """A placement. ``strategy`` is one name or an ordered fallback chain."""

    id: PodId
    #: The experiment on this pod, managed through ``/v1/experiments`` (a pod PUT keeps
    #: it).
    experiment: Experiment | None = None
