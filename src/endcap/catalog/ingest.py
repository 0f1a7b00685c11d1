"""Parse catalog uploads: a JSON array or NDJSON of items, all valid or none stored."""

from __future__ import annotations

import msgspec

from endcap.catalog.model import MAX_ITEMS_PER_REQUEST, Item, ItemPatch
from endcap.errors import BadRequest, Invalid, decode, field_of, message_of

_items = msgspec.json.Decoder(list[Item])
_item = msgspec.json.Decoder(Item)
_patch = msgspec.json.Decoder(ItemPatch)


def parse_items(body: bytes, *, ndjson: bool) -> list[Item]:
    """Every item of an upload, or an error naming the first bad field (nothing stored)."""
    if not body.strip():
        raise BadRequest("empty body: send a JSON array of items or NDJSON", field="body")
    items = _parse_ndjson(body) if ndjson else _parse_array(body)
    if len(items) > MAX_ITEMS_PER_REQUEST:
        raise Invalid(f"{len(items)} items in one request; the limit is "
                      f"{MAX_ITEMS_PER_REQUEST}", field="body")
    seen: set[str] = set()
    for i, it in enumerate(items):
        if it.id in seen:
            raise Invalid(f"item id {it.id!r} appears twice in the request",
                          field=f"[{i}].id")
        seen.add(it.id)
    return items


def _parse_array(body: bytes) -> list[Item]:
    return decode(_items, body)


def _parse_ndjson(body: bytes) -> list[Item]:
    out = []
    for n, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(_item.decode(line))
        except msgspec.ValidationError as e:
            path = field_of(e)
            raise Invalid(f"line {n}: {message_of(e)}",
                          field=f"line {n}" + (f": {path}" if path else ""), line=n) from None
        except msgspec.DecodeError as e:
            raise BadRequest(f"line {n}: malformed JSON: {e}", field=f"line {n}", line=n) from None
    return out


def parse_patch(body: bytes) -> ItemPatch:
    """A partial item update, or an error naming the bad field."""
    return decode(_patch, body)
