"""The feed store's Redis Cluster path (`REDIS__CLUSTER=true`): every key a script touches is declared,
and no call spans hash slots.

The feed keys stay `feed:<user_id>` (the contract), so a batch of 1000 followers falls into ~970
different slots: fan-out sends one insert script call per slot group, with that group's feeds as
KEYS, and redis-py's cluster pipeline sends each node its share in one round trip (the nodes work in
parallel). The tombstone lives in another slot than the feeds, so the script cannot read it: the
store checks it before each batch and again after it, and takes the tweet back out of that batch's
feeds if a delete marked it meanwhile. That closes the race the single-server script closes
atomically: the delete sets the tombstone before it removes, so an insert that lands after the
removal also lands after the tombstone, and the check after the batch sees it.

Cached tweets (`tweet:<id>`) are read with a pipeline of GETs (one per slot, grouped per node) after
the page script, instead of the MGET inside it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import cast

from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import NoScriptError


def by_slot(keys: Iterable[str]) -> list[list[str]]:
    """`keys` grouped by hash slot (each group may go into one multi-key call)."""
    groups: defaultdict[int, list[str]] = defaultdict(list)
    for key in keys:
        groups[key_slot(key.encode())].append(key)
    return list(groups.values())


class ClusterScript:
    """A Lua script called with EVALSHA inside cluster pipelines: redis-py's Script object reloads a
    missing script only outside pipelines, so this loads it on every primary and reloads it once if
    a node answers NOSCRIPT (restarted, or a failover promoted a replica)."""

    def __init__(self, redis: Redis, source: str) -> None:
        self._redis = redis
        self._source = source
        self._sha = ""

    async def run_grouped(self, groups: list[list[str]], args: list[str | int]) -> list[object]:
        """One call per key group, pipelined; the replies in group order."""
        for attempt in range(2):
            if not self._sha:
                # SCRIPT LOAD goes to every primary; the reply is the same digest from each.
                self._sha = await self._redis.script_load(self._source)
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for keys in groups:
                        # redis-py blocks `pipe.evalsha` in cluster pipelines; the raw command routes by its keys.
                        pipe.execute_command("EVALSHA", self._sha, len(keys), *keys, *args)
                    return cast(list[object], await pipe.execute())
            except NoScriptError:
                if attempt:
                    raise
                self._sha = ""
        raise AssertionError("unreachable")


async def get_many(redis: Redis, keys: list[str]) -> list[str | None]:
    """The values of `keys` (None where absent), without a cross-slot MGET."""
    if not keys:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.get(key)
        return cast(list[str | None], await pipe.execute())
