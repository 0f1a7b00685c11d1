"""Deterministic, sticky assignment of shoppers to variants.

A shopper (user id, else session id) is hashed with the tenant and experiment into
one of :data:`BUCKETS` buckets; each bucket belongs to at most one variant. Shares
change by moving free buckets only: a variant whose share grows takes buckets nobody
had; a stopped variant's buckets are freed. A running variant never loses a bucket, so
its shoppers are never reshuffled (a smaller share for a running variant is refused).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from endcap.experiments.model import BUCKETS, Allocation, Experiment


class AllocationError(ValueError):
    """A share change that would move shoppers of a running variant."""


def bucket(tenant: str, experiment: str, shopper: str) -> int:
    digest = hashlib.blake2b(f"{tenant}\x1f{experiment}\x1f{shopper}".encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def shopper_key(user_id: str | None, session_id: str | None) -> str | None:
    """Who is assigned: the known user, else the anonymous session."""
    if user_id:
        return "u:" + user_id
    if session_id:
        return "s:" + session_id
    return None


def counts(shares: Sequence[float]) -> list[int]:
    """Buckets per share, by largest remainder (sum of shares at most 1)."""
    raw = [s * BUCKETS for s in shares]
    out = [int(r) for r in raw]
    spare = min(BUCKETS, round(sum(raw))) - sum(out)
    for i in sorted(range(len(raw)), key=lambda i: (-(raw[i] - out[i]), i))[:max(spare, 0)]:
        out[i] += 1
    return out


def allocate(shares: Sequence[float], previous: Sequence[int] | None = None,
             running: Sequence[bool] | None = None) -> list[int]:
    """The bucket owners for ``shares`` (one per variant; 0 for a stopped variant).

    From ``previous``: each variant keeps its buckets; a grown variant takes the lowest
    free ones; a variant at 0 frees its buckets. Raises :class:`AllocationError` when
    a running variant's share would shrink."""
    want = counts(shares)
    if sum(want) > BUCKETS:
        raise AllocationError("the variants' shares add up to more than 1")
    owner = list(previous) if previous is not None else [-1] * BUCKETS
    have = [0] * len(shares)
    for o in owner:
        if 0 <= o < len(shares):
            have[o] += 1
    for v, (n_want, n_have) in enumerate(zip(want, have, strict=True)):
        if n_want < n_have:
            if n_want > 0 and (running is None or running[v]):
                raise AllocationError(
                    f"variant {v} would shrink from {n_have / BUCKETS:.4f} to "
                    f"{n_want / BUCKETS:.4f} of the traffic, moving shoppers already "
                    "assigned to it: stop it (share 0) or start a new experiment")
            for b in range(BUCKETS):  # stopped: free all of its buckets
                if owner[b] == v:
                    owner[b] = -1
    free = (b for b in range(BUCKETS) if owner[b] == -1)
    for v, (n_want, n_have) in enumerate(zip(want, have, strict=True)):
        for _ in range(max(0, n_want - (n_have if n_want >= n_have else 0))):
            owner[next(free)] = v
    return owner


def variant_at(exp: Experiment, b: int, t: float) -> int:
    """The variant index bucket ``b`` belonged to at time ``t`` (-1: none)."""
    owner = -1
    for alloc in exp.allocations:
        if alloc.since <= t:
            owner = alloc.owner[b]
        else:
            break
    return owner


def current(exp: Experiment) -> Allocation | None:
    return exp.allocations[-1] if exp.allocations else None
