"""Item records as they travel over HTTP and sit in the store."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

#: An item or shopper identifier: printable, no control characters, bounded.
Id = Annotated[str, Meta(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
Text = Annotated[str, Meta(max_length=10_000)]
ShortText = Annotated[str, Meta(max_length=1_000)]
Price = Annotated[float, Meta(ge=0, le=1e12)]
#: A category path such as "Home/Kitchen/Knives"; "/" separates levels.
CategoryPath = Annotated[str, Meta(min_length=1, max_length=512)]
FacetValue = ShortText | list[ShortText]

MAX_ITEMS_PER_REQUEST = 10_000


class Item(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """One product of a shop's catalog."""

    id: Id
    name: ShortText = ""
    description: Text = ""
    url: ShortText = ""
    image_url: ShortText = ""
    price: Price | None = None
    currency: Annotated[str, Meta(max_length=8)] = ""
    categories: Annotated[list[CategoryPath], Meta(max_length=50)] = []
    brand: ShortText = ""
    facets: Annotated[dict[ShortText, FacetValue], Meta(max_length=100)] = {}
    in_stock: bool = True
    created_at: datetime | None = None
    metadata: dict[ShortText, Any] = {}


class ItemPatch(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """A partial update of an item: the fields present replace the stored ones."""

    name: ShortText | UnsetType = UNSET
    description: Text | UnsetType = UNSET
    url: ShortText | UnsetType = UNSET
    image_url: ShortText | UnsetType = UNSET
    price: Price | UnsetType | None = UNSET
    currency: Annotated[str, Meta(max_length=8)] | UnsetType = UNSET
    categories: Annotated[list[CategoryPath], Meta(max_length=50)] | UnsetType = UNSET
    brand: ShortText | UnsetType = UNSET
    facets: Annotated[dict[ShortText, FacetValue], Meta(max_length=100)] | UnsetType = UNSET
    in_stock: bool | UnsetType = UNSET
    created_at: datetime | UnsetType | None = UNSET
    metadata: dict[ShortText, Any] | UnsetType = UNSET


def apply_patch(item: Item, patch: ItemPatch) -> Item:
    """Return a new item with the fields set in ``patch`` replaced."""
    changes = {f: v for f in patch.__struct_fields__ if (v := getattr(patch, f)) is not UNSET}
    return msgspec.structs.replace(item, **changes)


def in_category(item: Item, prefix: str) -> bool:
    """True when one of the item's category paths equals ``prefix`` or lies below it."""
    p = prefix.strip("/")
    for c in item.categories:
        c = c.strip("/")
        if c == p or c.startswith(p + "/"):
            return True
    return False
