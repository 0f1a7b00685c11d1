"""A shopper's recent behaviour, the real-time state the strategies read."""

from __future__ import annotations

from dataclasses import dataclass, field

from endcap.events.model import Event

#: How many recent (time, type, item) entries a history keeps.
MAX_EVENTS = 200
#: How many purchased items a history remembers for repurchase exclusion.
MAX_PURCHASED = 1_000
#: Event types that enter a history (impressions and searches say nothing of taste).
HISTORY_TYPES = frozenset({"view", "click", "add_to_cart", "purchase"})


@dataclass(slots=True)
class ShopperHistory:
    """Recent (timestamp, type, item_id) entries, oldest first, and purchase times.

    ``purchased`` holds up to :data:`MAX_PURCHASED` items. A back-end may give time 0
    to a purchase older than every entry of ``events`` (the Redis store does: reading
    the times of a large bought set costs more than the rest of a request); what the
    strategies ask of it, "bought after this view?", has the same answer."""

    events: list[tuple[float, str, str]] = field(default_factory=list)
    purchased: dict[str, float] = field(default_factory=dict)

    def apply(self, event: Event) -> None:
        """Fold one event into the history (idempotence is the event log's job)."""
        if event.type not in HISTORY_TYPES:
            return
        ts = float(event.timestamp or 0.0)  # type: ignore[arg-type]
        for item in event.item_ids():
            self._insert((ts, event.type, item))
            if event.type == "purchase" and ts >= self.purchased.get(item, -1.0):
                self.purchased[item] = ts
        if len(self.events) > MAX_EVENTS:
            del self.events[: len(self.events) - MAX_EVENTS]
        self.trim_purchased()

    def trim_purchased(self) -> None:
        """Forget the oldest purchases beyond :data:`MAX_PURCHASED`."""
        if len(self.purchased) > MAX_PURCHASED:
            oldest = sorted(self.purchased, key=self.purchased.__getitem__)
            for item in oldest[: len(self.purchased) - MAX_PURCHASED]:
                del self.purchased[item]

    def _insert(self, entry: tuple[float, str, str]) -> None:
        # Events mostly arrive in order; a late one is placed by its time.
        ev = self.events
        if not ev or ev[-1][0] <= entry[0]:
            ev.append(entry)
            return
        i = len(ev)
        while i > 0 and ev[i - 1][0] > entry[0]:
            i -= 1
        ev.insert(i, entry)

    def viewed_newest_first(self) -> list[tuple[str, float]]:
        """(item_id, time) of the shopper's views and clicks, newest first, each item once,
        leaving out items bought after their last view."""
        seen: set[str] = set()
        out: list[tuple[str, float]] = []
        for ts, kind, item in reversed(self.events):
            if kind not in ("view", "click") or item in seen:
                continue
            seen.add(item)
            if self.purchased.get(item, -1.0) >= ts:
                continue
            out.append((item, ts))
        return out

    @staticmethod
    def merged(histories: list[ShopperHistory]) -> ShopperHistory:
        """One history holding the entries of several (a user's and their session's)."""
        if len(histories) == 1:
            return histories[0]
        out = ShopperHistory()
        out.events = sorted(e for h in histories for e in h.events)[-MAX_EVENTS:]
        for h in histories:
            for item, ts in h.purchased.items():
                if ts > out.purchased.get(item, -1.0):
                    out.purchased[item] = ts
        out.trim_purchased()
        return out
