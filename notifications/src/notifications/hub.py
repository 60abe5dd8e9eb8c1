"""One process's end of the live stream: a single Redis pub/sub connection, subscribed to the
channel of every user with a connection open here, dispatching each event to those connections.

Every connection has a bounded queue. The hub never waits for a connection: when a queue is full
the client is behind by that many events and is disconnected ("slow consumer"; it resumes with
Last-Event-ID), so a slow reader costs at most its queue. While Redis is unreachable no stream can
be served: open ones are closed with a retry hint and new ones are refused (503) until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import redis.exceptions
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from notifications.live import KEY_PREFIX, LiveEvent, LivePresence, stream_key
from shared.errors import DependencyUnavailable

logger = logging.getLogger(__name__)
# Subscribed from the start, so the connection is up (and its failures seen) with no user online.
CONTROL_CHANNEL = f"{KEY_PREFIX}hub"
SUBSCRIBE_TIMEOUT_SECONDS = 2.0
RECONNECT_SECONDS = 1.0
# How often the users with a stream open are marked live again (well inside the replay window).
PRESENCE_REFRESH_SECONDS = 60.0


@dataclass(frozen=True)
class Closing:
    """Why the server ends a stream: sent to the client as the last event."""

    reason: str
    status: int
    retry_ms: int | None = None


SLOW_CONSUMER = Closing("slow consumer: the client fell too far behind; resume with Last-Event-ID", 429, 1000)
REDIS_DOWN = Closing("redis unavailable", 503, 5000)
SHUTTING_DOWN = Closing("server shutting down", 503, 1000)


class Connection:
    """One open stream of a user: the events waiting to be written, and why it ends (if it does)."""

    def __init__(self, user_id: uuid.UUID, capacity: int) -> None:
        self.user_id = user_id
        self.channel = stream_key(user_id)
        self.queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(capacity + 1)  # + the end marker
        self._capacity = capacity
        self.closing: Closing | None = None
        self.ended = asyncio.Event()

    def offer(self, event: LiveEvent) -> None:
        if self.closing is not None:
            return
        if self.queue.qsize() >= self._capacity:
            self.close(SLOW_CONSUMER)
            return
        self.queue.put_nowait(event)

    def close(self, closing: Closing) -> None:
        """End the stream: queued events are dropped (the client replays them), the writer wakes."""
        if self.closing is not None:
            return
        self.closing = closing
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
        self.ended.set()


class LiveHub:
    def __init__(self, redis: Redis, queue_capacity: int, presence: LivePresence | None = None) -> None:
        self._redis = redis
        self._presence = presence
        self._capacity = queue_capacity
        self._connections: dict[str, set[Connection]] = defaultdict(set)
        self._subscribed: set[str] = set()
        self._confirmations: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()
        self._pubsub: PubSub | None = None
        self._available = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def open_connections(self) -> int:
        return sum(len(connections) for connections in self._connections.values())

    async def attach(self, user_id: uuid.UUID) -> Connection:
        """A connection that receives every event published to the user from now on; raises
        DependencyUnavailable (503) when Redis is down."""
        if not self._available.is_set():
            raise DependencyUnavailable("the live stream is unavailable (redis)", dependency="redis")
        connection = Connection(user_id, self._capacity)
        self._connections[connection.channel].add(connection)
        try:
            await self._sync(connection.channel)
        except BaseException:
            self.detach(connection)
            raise
        # Awaited: a fan-out that starts once the stream is open must already see the user live.
        await self._mark_quietly([user_id])
        return connection

    def detach(self, connection: Connection) -> None:
        connections = self._connections.get(connection.channel)
        if connections is None:
            return
        connections.discard(connection)
        # Closed now: the replay window (and fan-outs' publishing to it) runs from here.
        self._spawn(self._mark_quietly([connection.user_id]))
        if not connections:
            del self._connections[connection.channel]
            self._spawn(self._sync_quietly(connection.channel))

    def close_all(self, closing: Closing) -> None:
        for connections in list(self._connections.values()):
            for connection in list(connections):
                connection.close(closing)

    async def _sync(self, channel: str) -> None:
        """Subscribe or unsubscribe the channel to match whether a connection wants it. Serialized,
        so a quick disconnect + reconnect cannot leave the channel unsubscribed."""
        async with self._lock:
            pubsub = self._pubsub
            if pubsub is None or not self._available.is_set():
                raise DependencyUnavailable("the live stream is unavailable (redis)", dependency="redis")
            wanted = channel in self._connections
            if wanted and channel not in self._subscribed:
                confirmed = self._confirmations[channel] = asyncio.Event()
                try:
                    await pubsub.subscribe(channel)
                    # Only once Redis confirms are the user's events sent here: a replay read after
                    # this cannot miss an event published in between.
                    await asyncio.wait_for(confirmed.wait(), SUBSCRIBE_TIMEOUT_SECONDS)
                except (redis.exceptions.RedisError, OSError, TimeoutError) as exc:
                    raise DependencyUnavailable(
                        f"the live stream is unavailable ({exc!r})", dependency="redis"
                    ) from exc
                finally:
                    self._confirmations.pop(channel, None)
                self._subscribed.add(channel)
            elif not wanted and channel in self._subscribed:
                self._subscribed.discard(channel)
                await pubsub.unsubscribe(channel)

    async def _sync_quietly(self, channel: str) -> None:
        with contextlib.suppress(DependencyUnavailable, redis.exceptions.RedisError, OSError):
            await self._sync(channel)

    async def _mark_quietly(self, user_ids: list[uuid.UUID]) -> None:
        if self._presence is not None:
            with contextlib.suppress(DependencyUnavailable, redis.exceptions.RedisError, OSError):
                await self._presence.mark(user_ids)

    async def _keep_marking(self, stop: asyncio.Event) -> None:
        """Users with a stream open stay "live" for the fan-outs while the stream lasts."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PRESENCE_REFRESH_SECONDS)
            users = {connection.user_id for group in self._connections.values() for connection in group}
            await self._mark_quietly(list(users))

    async def run(self, stop: asyncio.Event) -> None:
        """Read the pub/sub connection until `stop`; on a Redis failure close every stream and
        reconnect."""
        self._spawn(self._keep_marking(stop))
        while not stop.is_set():
            try:
                await self._connect()
                await self._read(stop)
            except (redis.exceptions.RedisError, OSError) as exc:
                if self._available.is_set():
                    logger.warning("live stream: redis failed (%r); closing open streams", exc)
                self._lost()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RECONNECT_SECONDS)
        self._lost(SHUTTING_DOWN)

    async def _connect(self) -> None:
        pubsub = self._redis.pubsub()
        self._pubsub = pubsub
        await pubsub.subscribe(CONTROL_CHANNEL)
        # The confirmation proves the connection works before streams are accepted.
        message = await pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT_SECONDS)
        if message is None:
            raise redis.exceptions.ConnectionError("no subscribe confirmation from redis")
        self._available.set()
        logger.info("live stream: subscribed to redis")

    async def _read(self, stop: asyncio.Event) -> None:
        assert self._pubsub is not None
        while not stop.is_set():
            message = await self._pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            channel = message["channel"]
            if message["type"] == "subscribe":
                confirmed = self._confirmations.get(channel)
                if confirmed is not None:
                    confirmed.set()
            elif message["type"] == "message" and channel != CONTROL_CHANNEL:
                self._dispatch(channel, message["data"])

    def _dispatch(self, channel: str, payload: str) -> None:
        try:
            event = LiveEvent.from_message(payload)
        except ValueError:
            logger.warning("live stream: ignoring a malformed message on %s", channel)
            return
        for connection in list(self._connections.get(channel, ())):
            connection.offer(event)

    def _lost(self, closing: Closing = REDIS_DOWN) -> None:
        self._available.clear()
        self.close_all(closing)
        self._subscribed.clear()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            self._spawn(_close_quietly(pubsub))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def ping(self) -> None:
        """Readiness: the pub/sub connection is up."""
        if not self._available.is_set():
            raise DependencyUnavailable("live stream pub/sub is not connected", dependency="redis")


async def _close_quietly(pubsub: PubSub) -> None:
    with contextlib.suppress(Exception):
        await pubsub.aclose()
