"""A sample shop: a catalog and its shoppers' events, ready to load into endcap."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec

from endcap.catalog.model import Item
from endcap.events.model import Event
from endcap.events.validate import to_epoch

ITEMS_FILE = "items.ndjson"
EVENTS_FILE = "events.ndjson"


@dataclass(slots=True)
class SampleShop:
    """Items, events sorted by (timestamp, event_id), and a one-paragraph description."""

    items: list[Item]
    events: list[Event]
    description: str


def write_shop(shop: SampleShop, out_dir: Path) -> tuple[Path, Path]:
    """Write ``items.ndjson`` and ``events.ndjson`` (one JSON object a line) into ``out_dir``.

    Both are in the JSON shape of the HTTP API (``PUT /v1/items`` as NDJSON, ``POST
    /v1/events``); event timestamps are written as epoch seconds. Returns the two paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    enc = msgspec.json.Encoder()
    events = [
        e if e.timestamp is None or isinstance(e.timestamp, float)
        else msgspec.structs.replace(e, timestamp=to_epoch(e.timestamp, 0.0))
        for e in shop.events
    ]
    items_path = out_dir / ITEMS_FILE
    events_path = out_dir / EVENTS_FILE
    items_path.write_bytes(enc.encode_lines(shop.items))
    events_path.write_bytes(enc.encode_lines(events))
    return items_path, events_path


def read_shop(in_dir: Path, description: str = "") -> SampleShop:
    """Read back what :func:`write_shop` wrote."""
    in_dir = Path(in_dir)
    items = msgspec.json.Decoder(Item).decode_lines((in_dir / ITEMS_FILE).read_bytes())
    events = msgspec.json.Decoder(Event).decode_lines((in_dir / EVENTS_FILE).read_bytes())
    return SampleShop(items=items, events=events, description=description)
