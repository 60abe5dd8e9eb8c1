"""A small in-process cache whose entries expire after a fixed time, bounded in size.

For data another service owns that may be a few seconds stale on a read (authors' names, a
viewer's hidden accounts): a hit costs no network round trip, and a change shows within the TTL.
"""

from __future__ import annotations

from typing import Generic, TypeVar

# Past this many entries the oldest half is dropped (insertion order).
MAX_ENTRIES = 50_000

V = TypeVar("V")


class TtlCache(Generic[V]):
    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._values: dict[str, tuple[float, V]] = {}

    def get(self, key: str, now: float) -> V | None:
        found = self._values.get(key)
        return found[1] if found is not None and found[0] > now else None

    def get_stale(self, key: str, now: float) -> tuple[V, bool] | None:
        """The value even past its time, and whether it is past it (for serving while refreshing)."""
        found = self._values.get(key)
        return None if found is None else (found[1], found[0] <= now)

    def put(self, key: str, value: V, now: float) -> None:
        if len(self._values) >= self._max:
            for old in list(self._values)[: self._max // 2]:
                del self._values[old]
        self._values[key] = (now + self._ttl, value)

    def pop(self, key: str) -> None:
        self._values.pop(key, None)

    def clear(self) -> None:
        self._values.clear()
