"""Filters: parse them from a query string, combine pod and request, test an item."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import msgspec

from endcap.catalog.model import Item, in_category
from endcap.errors import BadRequest
from endcap.pods.model import Filters

Predicate = Callable[[Item], bool]

_NUMERIC = ("price_min", "price_max")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def parse_query_filters(pairs: Iterable[tuple[str, str]]) -> Filters:
    """Filters from ``filters[brand]=acme``-style query pairs (``filters[facet.color]=red``
    for a facet). Raises :class:`BadRequest` naming the parameter at fault."""
    raw: dict[str, object] = {}
    facets: dict[str, str] = {}
    for key, value in pairs:
        name = key[8:-1]
        field = f"filters[{name}]"
        if name.startswith("facet.") and len(name) > 6:
            facets[name[6:]] = value
        elif name in _NUMERIC:
            try:
                raw[name] = float(value)
            except ValueError:
                raise BadRequest(f"{field} must be a number", field=field) from None
        elif name == "in_stock":
            if value.lower() not in _TRUE | _FALSE:
                raise BadRequest(f"{field} must be true or false", field=field)
            raw[name] = value.lower() in _TRUE
        elif name in ("category", "brand"):
            raw[name] = value
        else:
            raise BadRequest(
                f"unknown filter {field}: use category, brand, price_min, price_max, "
                "in_stock or facet.<name>", field=field)
    if facets:
        raw["facets"] = facets
    try:
        return msgspec.convert(raw, Filters)
    except msgspec.ValidationError as e:
        raise BadRequest(f"invalid filters: {e}", field="filters") from None


def narrow(pod: Filters, req: Filters) -> Filters:
    """The filters of a request on a pod: the request may only narrow the pod's."""
    lo = [v for v in (pod.price_min, req.price_min) if v is not None]
    hi = [v for v in (pod.price_max, req.price_max) if v is not None]
    return Filters(
        category=req.category or pod.category,
        brand=req.brand or pod.brand,
        price_min=max(lo) if lo else None,
        price_max=min(hi) if hi else None,
        in_stock=req.in_stock if req.in_stock is not None else pod.in_stock,
        facets={**pod.facets, **req.facets},
    )


def predicate(f: Filters) -> Predicate | None:
    """A test for items matching ``f``; None when ``f`` filters nothing."""
    checks: list[Predicate] = []
    if f.category:
        cat = f.category
        checks.append(lambda it: in_category(it, cat))
    if f.brand:
        brand = f.brand.casefold()
        checks.append(lambda it: it.brand.casefold() == brand)
    if f.price_min is not None:
        lo = f.price_min
        checks.append(lambda it: it.price is not None and it.price >= lo)
    if f.price_max is not None:
        hi = f.price_max
        checks.append(lambda it: it.price is not None and it.price <= hi)
    if f.in_stock is not None:
        want = f.in_stock
        checks.append(lambda it: it.in_stock is want)
    for name, value in f.facets.items():
        checks.append(_facet_check(name, value))
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda it: all(c(it) for c in checks)


def _facet_check(name: str, value: str) -> Predicate:
    def check(it: Item) -> bool:
        v = it.facets.get(name)
        return v == value if isinstance(v, str) else (v is not None and value in v)

    return check
