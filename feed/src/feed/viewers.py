"""The reader's side of feed items, cached in Redis: the accounts its feed hides (blocks either way,
mutes) and its like/repost state of the tweets it has been shown. A warm read gets both for a page
in one pipelined round trip and asks no other service; what is missing is asked (users
`GetHiddenUsers`, tweets `GetViewerState` for the missing ids only) and stored for the next read,
whichever feed process serves it.

Dropped when they change, as the tweet cache is: tweets drops the reader's state after committing
a like, unlike, repost or unrepost (before answering, then once more a moment later, for a read
that fetched the old state before the commit and stored it after the drop); feed_worker drops it
again on the same events, and drops both accounts' hidden sets on user.block/unblock/mute/unmute.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import cast

import redis.exceptions
from redis.asyncio import Redis

from shared.errors import DependencyUnavailable, Overloaded
from shared.lifecycle import redis_outage

logger = logging.getLogger(__name__)

TTL_SECONDS = 3600
# A reader's state remembers at most this many tweets: past it, it starts again.
MAX_STATE_TWEETS = 2000
SECOND_DROP_SECONDS = 1.0
# Stored state of one tweet: liked, reposted.
_FLAGS = {"00": (False, False), "10": (True, False), "01": (False, True), "11": (True, True)}


def hidden_key(user_id: uuid.UUID | str) -> str:
    # One hash slot per reader (Redis Cluster): both keys in one pipeline to one node.
    return f"viewer:{{{user_id}}}:hidden"


def state_key(user_id: uuid.UUID | str) -> str:
    return f"viewer:{{{user_id}}}:state"


# The hidden set (None: not cached), the known states of a page's tweets, how many states are stored.
ViewerSnapshot = tuple[frozenset[str] | None, dict[str, tuple[bool, bool]], int]


def viewer_keys(user_id: uuid.UUID | str) -> tuple[str, str]:
    """The keys a page script reads the reader's side from (feed.feedstore, lua/viewer.lua)."""
    return hidden_key(user_id), state_key(user_id)


def parse(reply: Sequence[object], tweet_ids: Sequence[str]) -> ViewerSnapshot:
    """The snapshot in a reply of GET hidden, HMGET state <tweet_ids>, HLEN state."""
    hidden, states, stored = reply
    known = {
        tweet_id: _FLAGS[flags]
        for tweet_id, flags in zip(tweet_ids, cast(list[str | None], states), strict=True)
        if flags in _FLAGS
    }
    hidden_set = None if hidden is None else frozenset(filter(None, cast(str, hidden).split(",")))
    return hidden_set, known, int(cast(int, stored))


class ViewerCache:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pending: set[asyncio.Task[None]] = set()

    async def read(self, user_id: str, tweet_ids: Sequence[str]) -> ViewerSnapshot:
        """(the hidden set or None if not cached, the known states among `tweet_ids`, how many
        states are stored): one round trip."""
        async with redis_outage(), self._redis.pipeline(transaction=False) as pipe:
            pipe.get(hidden_key(user_id))
            pipe.hmget(state_key(user_id), list(tweet_ids))
            pipe.hlen(state_key(user_id))
            return parse(await pipe.execute(), tweet_ids)

    async def store(
        self,
        user_id: str,
        hidden: frozenset[str] | None,
        states: dict[str, tuple[bool, bool]],
        restart_states: bool = False,
    ) -> None:
        """Keep what was just asked for the next read: one round trip."""
        if hidden is None and not states:
            return
        async with redis_outage(), self._redis.pipeline(transaction=False) as pipe:
            if hidden is not None:
                pipe.set(hidden_key(user_id), ",".join(sorted(hidden)), ex=TTL_SECONDS)
            if states:
                if restart_states:
                    pipe.delete(state_key(user_id))
                pipe.hset(
                    state_key(user_id),
                    mapping={
                        tweet_id: f"{int(liked)}{int(reposted)}"
                        for tweet_id, (liked, reposted) in states.items()
                    },
                )
                pipe.expire(state_key(user_id), TTL_SECONDS)
            await pipe.execute()

    async def state_changed(self, user_ids: Iterable[uuid.UUID | str]) -> None:
        """Drop the users' like/repost state now (raises if Redis cannot be reached)."""
        await self._drop([state_key(user_id) for user_id in user_ids])

    async def hidden_changed(self, user_ids: Iterable[uuid.UUID | str]) -> None:
        await self._drop([hidden_key(user_id) for user_id in user_ids])

    async def state_changed_after_commit(self, user_ids: Iterable[uuid.UUID | str]) -> None:
        """After a committed change: drop now and once more a moment later, never failing the
        caller (feed_worker drops it again from the event; the TTL bounds the rest)."""
        keys = [state_key(user_id) for user_id in user_ids]
        if not keys:
            return
        await self._drop_quietly(keys)
        task = asyncio.create_task(self._drop_later(keys))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def close(self) -> None:
        if self._pending:
            await asyncio.wait(self._pending, timeout=SECOND_DROP_SECONDS + 1)

    async def _drop(self, keys: list[str]) -> None:
        if keys:
            async with redis_outage():
                for key in keys:  # one slot per reader: no cross-slot DEL on a cluster
                    await self._redis.delete(key)

    async def _drop_later(self, keys: list[str]) -> None:
        await asyncio.sleep(SECOND_DROP_SECONDS)
        await self._drop_quietly(keys)

    async def _drop_quietly(self, keys: list[str]) -> None:
        try:
            await self._drop(keys)
        except (DependencyUnavailable, Overloaded, redis.exceptions.RedisError) as exc:
            logger.warning("viewer state drop failed (%s); the feed worker drops it again", exc)
