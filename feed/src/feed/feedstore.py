"""Writing the Redis feed lists (feed.entries says what they hold): fan-out, reposts, follow
backfills and removals. Reads of a page are feed.pages.

Tweet ids are UUIDv7 strings, so string order is creation order; every write keeps each list sorted
newest first, with at most one entry per tweet. Writes that must read before they write (ordering,
dedup) run as Lua scripts, which Redis executes atomically, so concurrent workers cannot interleave
inside one list. Scripts are registered once per store and called with EVALSHA; fan-out sends one
script call per batch of feeds, and all batches go in one pipeline, never one round trip per
follower. On a Redis Cluster (`REDIS__CLUSTER=true`) the same scripts run per hash slot
(feed.slots). Fan-out checks a deleted tweet's tombstone inside its script, so a create event
handled after (or during) the delete cannot bring the tweet back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar, cast

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from feed.entries import (
    FEED_LENGTH,
    ID_LENGTH,
    KEY_PREFIX,
    REPOST_TOMBSTONE_PREFIX,
    TOMBSTONE_PREFIX,
    TOMBSTONE_SECONDS,
    canonical_entry,
    canonical_id,
    entry_parts,
    feed_key,
    repost_entry,
    repost_tombstone_key,
    tombstone_key,
    tweet_reposts_key,
)
from feed.scripts import lua
from feed.slots import ClusterScript, NodePipelines, any_exist, by_slot, get_many
from shared.lifecycle import is_cluster, redis_outage

T = TypeVar("T")

# The fan-out scripts are prefixed with push.lua: their shared helpers.
_INSERT = lua("push", "fan_out")
_MERGE = lua("merge")
_REPOST = lua("push", "repost")
_REMOVE_REPOSTS_BY = lua("remove_reposts_by")


@dataclass(frozen=True)
class Audience:
    """Which feeds of a fan-out page are left out and whose owners are live, asked inside the insert
    script (one Redis server): accounts last seen (`<last_seen_prefix><id>`, Unix s) at or before
    `inactive_before` are skipped; owners scored at least `live_since_ms` in `presence_key` are live.
    None turns either check off."""

    last_seen_prefix: str
    inactive_before: float | None
    presence_key: str
    live_since_ms: int | None

    def args(self) -> list[str]:
        return [
            self.last_seen_prefix,
            "" if self.inactive_before is None else str(int(self.inactive_before)),
            self.presence_key,
            "" if self.live_since_ms is None else str(self.live_since_ms),
        ]


@dataclass(frozen=True)
class Delivery:
    """What one fan-out with an audience did: feeds changed, feeds skipped (inactive owners), and
    the owners live among those written."""

    changed: int
    skipped: int
    live: list[str]


def _batches(items: Iterable[T], size: int) -> Iterable[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class FeedStore:
    """Writes the feed lists; safe to share between concurrent tasks.

    The Redis client must decode responses (`decode_responses=True`, as `shared.lifecycle.redis_client`).
    """

    def __init__(self, redis: Redis, batch_size: int = 1000, max_length: int = FEED_LENGTH) -> None:
        self._redis = redis
        self._batch_size = max(1, batch_size)
        self._max_length = max_length
        self._insert = redis.register_script(_INSERT)
        self._merge = redis.register_script(_MERGE)
        self._cluster = is_cluster(redis)
        self._insert_per_slot = self._per_slot(_INSERT)
        self._repost_per_slot = self._per_slot(_REPOST)
        self._repost = redis.register_script(_REPOST)
        self._remove_reposts_by = redis.register_script(_REMOVE_REPOSTS_BY)

    def _per_slot(self, source: str) -> NodePipelines | None:
        """On a Redis Cluster, the script's calls per hash slot, sent per node (feed.slots)."""
        return (
            NodePipelines(self._redis, ClusterScript(self._redis, source), source) if self._cluster else None
        )

    async def fan_out(self, tweet_id: uuid.UUID | str, user_ids: Iterable[uuid.UUID | str]) -> int:
        """Insert one tweet into many feeds in sorted position; returns how many feeds changed."""
        tweet = canonical_id(tweet_id)
        tombstone = tombstone_key(tweet)
        if self._insert_per_slot is not None:
            return await self._fan_out_cluster(
                self._insert_per_slot, tweet, [tweet, self._max_length, "", ""], [tombstone], user_ids
            )
        results = await self._in_batches(self._insert, [tombstone], [tweet, self._max_length], user_ids)
        return sum(int(cast(int, result)) for result in results)

    @property
    def checks_audience(self) -> bool:
        """Whether `deliver` is available (one Redis server; the script builds the other keys)."""
        return not self._cluster

    async def deliver(
        self, tweet_id: uuid.UUID | str, user_ids: Iterable[uuid.UUID | str], audience: Audience
    ) -> Delivery:
        """`fan_out` with the audience checked by the same script call (one Redis server only)."""
        tweet = canonical_id(tweet_id)
        return await self._deliver(
            self._insert, [tombstone_key(tweet)], [tweet, self._max_length], user_ids, audience.args()
        )

    async def deliver_repost(
        self, entry: str, user_ids: Iterable[uuid.UUID | str], audience: Audience
    ) -> Delivery:
        """`fan_out_repost` skipping inactive accounts in the same script call (one Redis server
        only; a repost tells no live stream, so `live` stays empty)."""
        repost_id, tweet_id, _ = entry.split(":")
        keys = [tombstone_key(tweet_id), repost_tombstone_key(repost_id)]
        extra = audience.args()[:2]
        return await self._deliver(self._repost, keys, [entry, tweet_id, self._max_length], user_ids, extra)

    async def _deliver(
        self,
        script: AsyncScript,
        keys: list[str],
        args: list[str | int],
        user_ids: Iterable[uuid.UUID | str],
        audience: list[str],
    ) -> Delivery:
        if self._cluster:
            raise RuntimeError("an audience needs one Redis server: on a cluster fan out and ask apart")
        replies = cast(list[list[object]], await self._in_batches(script, keys, args, user_ids, audience))
        return Delivery(
            changed=sum(int(cast(int, reply[0])) for reply in replies),
            skipped=sum(int(cast(int, reply[1])) for reply in replies),
            live=[cast(str, user) for reply in replies for user in reply[2:]],
        )

    async def _in_batches(
        self,
        script: AsyncScript,
        keys: list[str],
        args: list[str | int],
        user_ids: Iterable[uuid.UUID | str],
        extra: list[str] | None = None,
    ) -> list[object]:
        """One Redis server: a fan-out script per batch of feeds (the key prefix and the batch's
        user ids after `args`, then `extra`), all in one pipeline; the replies in batch order."""
        async with redis_outage(), self._redis.pipeline(transaction=False) as pipe:
            for batch in _batches(map(str, user_ids), self._batch_size):
                await script(
                    keys=keys, args=[*args, KEY_PREFIX, " ".join(batch), *(extra or [])], client=pipe
                )
            return cast(list[object], await pipe.execute())

    async def fan_out_repost(self, entry: str, user_ids: Iterable[uuid.UUID | str]) -> int:
        """Insert a repost entry into many feeds by repost time, except where the tweet is shown
        already; returns how many feeds changed."""
        repost_id, tweet_id, _ = entry.split(":")
        tombstones = [tombstone_key(tweet_id), repost_tombstone_key(repost_id)]
        if self._repost_per_slot is not None:
            return await self._fan_out_cluster(
                self._repost_per_slot,
                entry,
                [entry, tweet_id, self._max_length, "", ""],
                tombstones,
                user_ids,
            )
        results = await self._in_batches(
            self._repost, tombstones, [entry, tweet_id, self._max_length], user_ids
        )
        return sum(int(cast(int, result)) for result in results)

    async def _fan_out_cluster(
        self,
        script: NodePipelines,
        entry: str,
        args: list[str | int],
        tombstones: list[str],
        user_ids: Iterable[uuid.UUID | str],
    ) -> int:
        """fan_out / fan_out_repost on a Redis Cluster: per batch, one script call per hash slot (the
        feeds its KEYS), with the tombstones checked before and after (see feed.slots for why that
        is as safe as the single server's atomic check); a batch written while a delete or an undo
        marked its tombstone gets the entry taken back out."""
        changed = 0
        async with redis_outage():
            if await any_exist(self._redis, tombstones):
                return 0
            for batch in _batches(map(feed_key, user_ids), self._batch_size):
                results = await script.run_grouped(by_slot(batch), args)
                changed += sum(int(cast(int, result)) for result in results)
                if await any_exist(self._redis, tombstones):
                    await self.remove([entry], [key.removeprefix(KEY_PREFIX) for key in batch])
                    return 0
        return changed

    async def record_repost(self, entry: str) -> bool:
        """Remember where a repost's entries go (for the tweet's deletion); False if it was undone."""
        repost_id, tweet_id, reposter_id = entry.split(":")
        async with redis_outage():
            if await self._redis.exists(repost_tombstone_key(repost_id)):
                return False
            await self._redis.hset(tweet_reposts_key(tweet_id), repost_id, reposter_id)
        return True

    async def mark_unreposted(self, entry: str) -> None:
        """Refuse later fan-outs and backfills of an undone repost, and forget where it went."""
        repost_id, tweet_id, _ = entry.split(":")
        async with redis_outage(), self._redis.pipeline(transaction=False) as pipe:
            pipe.set(repost_tombstone_key(repost_id), 1, ex=TOMBSTONE_SECONDS)
            pipe.hdel(tweet_reposts_key(tweet_id), repost_id)
            await pipe.execute()

    async def forget_reposts_of(self, tweet_id: uuid.UUID | str) -> None:
        async with redis_outage():
            await self._redis.delete(tweet_reposts_key(canonical_id(tweet_id)))

    async def remove_reposts_by(self, user_id: uuid.UUID | str, reposter_id: uuid.UUID | str) -> list[str]:
        """Remove every repost entry by `reposter_id` from one feed; returns the entries removed."""
        async with redis_outage():
            removed = await self._remove_reposts_by(
                keys=[feed_key(user_id)], args=[canonical_id(reposter_id)]
            )
        return list(cast(list[str], removed))

    async def reposts_of(self, tweet_ids: Sequence[uuid.UUID | str]) -> dict[str, list[str]]:
        """For each tweet (by canonical id), the repost entries made for it and not undone (one
        pipelined HGETALL each); tweets without any are left out."""
        tweets = [canonical_id(tweet_id) for tweet_id in tweet_ids]
        if not tweets:
            return {}
        async with redis_outage(), self._redis.pipeline(transaction=False) as pipe:
            for tweet in tweets:
                pipe.hgetall(tweet_reposts_key(tweet))
            replies = cast(list[dict[str, str]], await pipe.execute())
        return {
            tweet: [repost_entry(repost_id, tweet, reposter) for repost_id, reposter in reposts.items()]
            for tweet, reposts in zip(tweets, replies, strict=True)
            if reposts
        }

    async def merge(self, user_id: uuid.UUID | str, entries: Iterable[uuid.UUID | str]) -> int:
        """Merge tweet ids or repost entries into one feed (sorted, at most one entry per tweet,
        trimmed, deleted tweets and undone reposts skipped); returns its new length."""
        ids = [canonical_entry(entry) for entry in entries]
        if not ids:
            return 0
        if self._cluster:
            return await self._merge_cluster(user_id, ids)
        args: list[str | int] = [self._max_length, TOMBSTONE_PREFIX, REPOST_TOMBSTONE_PREFIX, *ids]
        async with redis_outage():
            return int(await self._merge(keys=[feed_key(user_id)], args=args))

    async def _merge_cluster(self, user_id: uuid.UUID | str, ids: list[str]) -> int:
        """merge on a Redis Cluster: the tombstones (other hash slots) checked before and after the
        script, the entries deleted or undone meanwhile taken back out (as _fan_out_cluster does)."""
        async with redis_outage():
            ids = [entry for entry, gone in zip(ids, await self._gone(ids), strict=True) if not gone]
            if not ids:
                return int(await self._redis.llen(feed_key(user_id)))
            args: list[str | int] = [self._max_length, "", "", *ids]
            length = int(await self._merge(keys=[feed_key(user_id)], args=args))
            late = [entry for entry, gone in zip(ids, await self._gone(ids), strict=True) if gone]
        if late:
            length -= await self.remove(late, [user_id])
        return length

    async def _gone(self, entries: list[str]) -> list[bool]:
        """For each entry, whether its tweet was deleted or (a repost entry) its repost undone."""
        keys = []
        for entry in entries:
            tweet_id, reposter = entry_parts(entry)
            keys.append(tombstone_key(tweet_id))
            keys.append(repost_tombstone_key(entry[:ID_LENGTH]) if reposter is not None else "")
        values = await get_many(self._redis, [key for key in keys if key])
        found = iter(values)
        flags = [key != "" and next(found) is not None for key in keys]
        return [flags[i] or flags[i + 1] for i in range(0, len(flags), 2)]

    async def replace(self, user_id: uuid.UUID | str, entries: Iterable[uuid.UUID | str]) -> int:
        """Replace one feed with `entries` (as `merge` keeps them: sorted, one per tweet, trimmed,
        deleted ones skipped); returns its new length. Entries fanned out between the two calls stay."""
        async with redis_outage():
            await self._redis.delete(feed_key(user_id))
        return await self.merge(user_id, entries)

    async def mark_deleted(self, tweet_id: uuid.UUID | str) -> None:
        """Refuse later fan-outs of a deleted tweet (a late or redelivered create event)."""
        async with redis_outage():
            await self._redis.set(tombstone_key(canonical_id(tweet_id)), 1, ex=TOMBSTONE_SECONDS)

    async def remove(self, tweet_ids: Iterable[uuid.UUID | str], user_ids: Iterable[uuid.UUID | str]) -> int:
        """Remove tweets (or repost entries) from feeds (pipelined LREM); returns how many entries went."""
        ids = [canonical_entry(tweet_id) for tweet_id in tweet_ids]
        if not ids:
            return 0
        removed = 0
        commands = ((feed_key(user_id), tweet) for user_id in user_ids for tweet in ids)
        async with redis_outage():
            for batch in _batches(commands, self._batch_size):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key, tweet in batch:
                        pipe.lrem(key, 0, tweet)
                    removed += sum(int(result) for result in await pipe.execute())
        return removed

    async def ids(self, user_id: uuid.UUID | str) -> list[str]:
        """The whole feed, newest first."""
        async with redis_outage():
            return cast(list[str], await self._redis.lrange(feed_key(user_id), 0, -1))

    async def close(self) -> None:
        """Close the per-node connections of the cluster fan-out path (the client stays open)."""
        for script in (self._insert_per_slot, self._repost_per_slot):
            if script is not None:
                await script.close()

    async def ping(self) -> None:
        async with redis_outage():
            await self._redis.ping()
