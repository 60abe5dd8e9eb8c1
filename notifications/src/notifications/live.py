"""The live stream's Redis layout, and the API other processes publish through.

Each user has one Redis Stream, `live:<user_id>`, which is also the name of their pub/sub channel.
Publishing an event to a user is one script (XADD, then PUBLISH of the entry): the stream keeps the
newest events for `Last-Event-ID` replay (capped, and gone with the key after `keep_seconds` of
quiet), the channel reaches every notifications process that holds a connection of that user. The
entry id (`<ms>-<seq>`) is the event's id on the wire, so ids grow per user and say when.

A fan-out publishes in pipelined batches, one round trip per `batch_size` users, never one per
user. Other processes (the feed worker, the notification worker) only call `LivePublisher`; the
notifications service alone reads the keys (`LiveStreams.since`, and its hub subscribes).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Final, Literal, cast

from redis.asyncio import Redis

from shared.errors import InvalidInput
from shared.lifecycle import is_cluster, redis_outage

KEY_PREFIX: Final = "live:"
EventName = Literal["update", "delete", "notification"]
UPDATE: Final = "update"
DELETE: Final = "delete"
NOTIFICATION: Final = "notification"
DEFAULT_KEEP_SECONDS = 300
DEFAULT_MAX_EVENTS = 500

# KEYS[1] the user's stream (and channel); ARGV[1] event name, ARGV[2] data (JSON), ARGV[3] the
# entries kept at most, ARGV[4] seconds the key lives after its last event.
_PUBLISH = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'event', ARGV[1], 'data', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', KEYS[1], id .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[2])
return id
"""


def stream_key(user_id: uuid.UUID | str) -> str:
    return f"{KEY_PREFIX}{user_id}"


def parse_event_id(value: str) -> tuple[int, int]:
    """A stream entry id `<ms>-<seq>` as a comparable pair; InvalidInput when it is not one."""
    ms, _, seq = value.partition("-")
    if not (ms.isdigit() and seq.isdigit()) or len(value) > 41:
        raise InvalidInput("Last-Event-ID is not an event id of this stream", field="Last-Event-ID")
    return int(ms), int(seq)


@dataclass(frozen=True)
class LiveEvent:
    id: str  # the stream entry id
    event: str
    data: str  # JSON text

    @property
    def position(self) -> tuple[int, int]:
        return parse_event_id(self.id)

    @classmethod
    def from_message(cls, payload: str) -> LiveEvent:
        """The event a PUBLISH of the script carries: `<id>\\n<event>\\n<data>`."""
        event_id, event, data = payload.split("\n", 2)
        return cls(event_id, event, data)


class LivePublisher:
    """Publishes events to users' live streams; safe to share between tasks. The Redis client must
    decode responses (as `shared.lifecycle.redis_client` builds it)."""

    def __init__(
        self,
        redis: Redis,
        batch_size: int = 1000,
        keep_seconds: int = DEFAULT_KEEP_SECONDS,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> None:
        self._redis = redis
        self._batch_size = max(1, batch_size)
        self._keep_seconds = keep_seconds
        self._max_events = max_events
        self._publish = redis.register_script(_PUBLISH)

    async def publish(self, event: EventName, data: str, user_ids: Iterable[uuid.UUID | str]) -> int:
        """The same event to every user given; returns how many streams got it."""
        return await self.publish_each((event, data, user_id) for user_id in user_ids)

    async def publish_each(self, items: Iterable[tuple[EventName, str, uuid.UUID | str]]) -> int:
        """Events that differ per user (event, data, user); pipelined in batches."""
        sent = 0
        iterator = iter(items)
        async with redis_outage():
            while batch := list(islice(iterator, self._batch_size)):
                if is_cluster(self._redis):
                    # A cluster pipeline refuses scripts: each call is routed by its one key, at once.
                    calls = (
                        self._publish(
                            keys=[stream_key(user_id)],
                            args=[event, data, self._max_events, self._keep_seconds],
                        )
                        for event, data, user_id in batch
                    )
                    sent += len(await asyncio.gather(*calls))
                    continue
                async with self._redis.pipeline(transaction=False) as pipe:
                    for event, data, user_id in batch:
                        await self._publish(
                            keys=[stream_key(user_id)],
                            args=[event, data, self._max_events, self._keep_seconds],
                            client=pipe,
                        )
                    sent += len(await pipe.execute())
        return sent


# user id -> when (ms) it last had a stream open: fan-outs publish only to users live within the
# replay window (keep_seconds), so an offline follower costs one ZMSCORE slot, not a script call.
# Publishing to every follower made fan-out 4x slower in the quick bench (95k -> 24k deliveries/s).
PRESENCE_KEY: Final = "live:recent"


class LivePresence:
    """Who has (or had, within the replay window) a live stream open; one key, so cluster-safe."""

    def __init__(self, redis: Redis, keep_seconds: int = DEFAULT_KEEP_SECONDS) -> None:
        self._redis = redis
        self._keep_ms = keep_seconds * 1000

    async def mark(self, user_ids: Iterable[uuid.UUID | str]) -> None:
        """Record these users as live now, and forget those gone for longer than the window."""
        members = {str(user_id): _now_ms() for user_id in user_ids}
        if not members:
            return
        async with redis_outage(), self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(PRESENCE_KEY, members)
            pipe.zremrangebyscore(PRESENCE_KEY, 0, _now_ms() - self._keep_ms)
            await pipe.execute()

    def since_ms(self) -> int:
        """A presence scored at least this (ms) is within the window now."""
        return _now_ms() - self._keep_ms

    async def recent(self, user_ids: Sequence[str]) -> list[str]:
        """The users among these that had a stream open within the window (one call)."""
        if not user_ids:
            return []
        async with redis_outage():
            scores = await self._redis.zmscore(PRESENCE_KEY, list(user_ids))
        since = self.since_ms()
        return [
            user_id
            for user_id, score in zip(user_ids, scores, strict=True)
            if score is not None and score >= since
        ]


def _now_ms() -> int:
    return int(time.time() * 1000)


class LiveStreams:
    """The read side of the streams (the notifications service): what a reconnecting client missed."""

    def __init__(self, redis: Redis, keep_seconds: int, max_events: int) -> None:
        self._redis = redis
        self._keep_ms = keep_seconds * 1000
        self._max_events = max_events

    async def since(self, user_id: uuid.UUID, last_event_id: str) -> list[LiveEvent]:
        """The user's events after `last_event_id`, oldest first, none older than the replay window."""
        parse_event_id(last_event_id)
        oldest = int(time.time() * 1000) - self._keep_ms
        async with redis_outage():
            entries = await self._redis.xrange(
                stream_key(user_id), min=f"({last_event_id}", max="+", count=self._max_events
            )
        events = [
            LiveEvent(str(entry_id), str(fields["event"]), str(fields["data"]))
            for entry_id, fields in cast(list[tuple[str, dict[str, str]]], entries)
        ]
        return [event for event in events if event.position[0] >= oldest]
