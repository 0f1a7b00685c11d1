"""The experiment schema: variants of one pod, their traffic shares and what is judged.

An experiment lives inside its pod's document (``Pod.experiment``), so the hot path,
which reads the pod anyway, needs no further lookup, and every cache that knows the
pod knows its experiment.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from endcap.pods.config import MAX_RESULTS, POD_ID_PATTERN, Filters, Rules, StrategyName

VariantId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")]
ExperimentId = Annotated[str, Meta(pattern=POD_ID_PATTERN)]
Share = Annotated[float, Meta(gt=0, le=1)]
Metric = Literal["revenue_per_shopper", "conversion_rate", "add_to_cart_rate", "click_rate"]
Status = Literal["draft", "running", "stopped"]
#: Shoppers are hashed into this many buckets; shares are whole numbers of buckets.
BUCKETS = 10_000


class Variant(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """One arm: a pod configuration. ``strategy`` None serves nothing (a holdout)."""

    id: VariantId
    share: Share
    strategy: StrategyName | Annotated[list[StrategyName], Meta(min_length=1, max_length=8)] \
        | None = None
    filters: Filters = msgspec.field(default_factory=Filters)
    rules: Rules = msgspec.field(default_factory=Rules)
    num_results: Annotated[int, Meta(ge=1, le=MAX_RESULTS)] | None = None
    #: A holdout arm: measured like the others, never the winner.
    holdout: bool = False


class ExperimentBody(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """An experiment as a client creates or updates it."""

    pod_id: Annotated[str, Meta(pattern=POD_ID_PATTERN)]
    variants: Annotated[list[Variant], Meta(min_length=2, max_length=10)]
    #: The variant the others are compared with (default: the first).
    control: VariantId | None = None
    primary_metric: Metric = "revenue_per_shopper"
    #: A click, cart or purchase of an item shown to the shopper in the pod this many
    #: hours before it is credited to the variant (view-through).
    attribution_window_hours: Annotated[float, Meta(gt=0, le=24 * 90)] = 24.0
    #: Revenue per shopper is tested with each purchase line's revenue capped at this
    #: quantile of purchase-line revenue in the 30 days before the start (fixed before
    #: any outcome is seen; a few huge lines no longer swamp the test). None: uncapped.
    revenue_cap_quantile: Annotated[float, Meta(ge=0.5, le=1)] | None = 0.99
    #: The always-valid test's significance level.
    alpha: Annotated[float, Meta(gt=0, lt=0.5)] = 0.05
    #: The smallest relative change of the primary metric worth detecting: the test's
    #: mixing scale is tau = mde * the control mean at the first look (Johari et al.).
    #: Larger effects than this are still detected, sooner the closer mde is to them.
    mde: Annotated[float, Meta(gt=0, le=10)] = 0.10
    #: The declared maximum sample: exposed shoppers in the control and the compared
    #: variants together. The first look that reaches it without a significant
    #: difference ends the test with "no_difference". None: no horizon.
    max_shoppers: Annotated[int, Meta(ge=2, le=1_000_000_000)] | None = None
    description: Annotated[str, Meta(max_length=1_000)] = ""


class Allocation(Struct, forbid_unknown_fields=True, kw_only=True):
    """From ``since`` on, bucket ``b`` belongs to ``variants[owner[b]]`` (-1: no
    variant: the shopper sees the pod as it is and is not counted)."""

    since: float
    owner: list[int]


class Experiment(ExperimentBody, kw_only=True):
    id: ExperimentId
    status: Status = "draft"
    created_at: float = 0.0
    started_at: float | None = None
    stopped_at: float | None = None
    #: Every allocation the experiment has had, oldest first (the last is in force).
    allocations: list[Allocation] = []

    def control_id(self) -> str:
        return self.control or self.variants[0].id
