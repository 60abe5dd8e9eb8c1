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
from typing import Any

import redis.exceptions
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from notifications.connection import REDIS_DOWN, SHUTTING_DOWN, Closing, Connection
from notifications.live import KEY_PREFIX, LiveEvent, LivePresence
from shared.auth import TokenClaims
from shared.errors import DependencyUnavailable

logger = logging.getLogger(__name__)
# Subscribed from the start, so the connection is up (and its failures seen) with no user online.
CONTROL_CHANNEL = f"{KEY_PREFIX}hub"
# Generous: on a loaded machine, opening thousands of streams at once can hold the loop for seconds.
SUBSCRIBE_TIMEOUT_SECONDS = 5.0
RECONNECT_SECONDS = 1.0
# How often the users with a stream open are marked live again (well inside the replay window).
PRESENCE_REFRESH_SECONDS = 60.0


class LiveHub:
    """Subscriptions are batched: the channels asked for while a SUBSCRIBE is on its way go in the
    next one, so opening thousands of streams at once costs a few round trips, not one each under a
    lock; each new stream still waits for Redis's confirmation of its channel before it replays."""

    def __init__(self, redis: Redis, queue_capacity: int, presence: LivePresence | None = None) -> None:
        self._redis = redis
        self._presence = presence
        self._capacity = queue_capacity
        self._connections: dict[str, set[Connection]] = defaultdict(set)
        self._subscribed: set[str] = set()
        # Channels whose SUBSCRIBE is sent or about to be, until Redis confirms it.
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._to_subscribe: set[str] = set()
        self._to_unsubscribe: set[str] = set()
        self._syncing: asyncio.Task[None] | None = None
        self._to_mark: set[uuid.UUID] = set()
        self._marking: asyncio.Task[None] | None = None
        self._pubsub: PubSub | None = None
        self._available = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def open_connections(self) -> int:
        return sum(len(connections) for connections in self._connections.values())

    async def attach(self, claims: TokenClaims) -> Connection:
        """A connection that receives every event published to the user from now on; raises
        DependencyUnavailable (503) when Redis is down."""
        if not self._available.is_set():
            raise DependencyUnavailable("the live stream is unavailable (redis)", dependency="redis")
        connection = Connection(claims, self._capacity)
        self._connections[connection.channel].add(connection)
        try:
            if connection.channel not in self._subscribed:
                await self._confirmed(connection.channel)
        except BaseException:
            self.detach(connection)
            raise
        # Awaited: a fan-out that starts once the stream is open must already see the user live.
        await self._mark([claims.user_id])
        return connection

    def detach(self, connection: Connection) -> None:
        connection.detached = True
        connections = self._connections.get(connection.channel)
        if connections is None or connection not in connections:
            return
        connections.discard(connection)
        # Closed now: the replay window (and fan-outs' publishing to it) runs from here.
        self._mark_soon([connection.user_id])
        if not connections:
            del self._connections[connection.channel]
            if connection.channel in self._subscribed:
                self._request(unsubscribe=connection.channel)

    def close_all(self, closing: Closing) -> None:
        for connections in list(self._connections.values()):
            for connection in list(connections):
                connection.close(closing)

    async def _confirmed(self, channel: str) -> None:
        """Wait until Redis confirms the channel's subscription (asking for it if nobody has).
        Only then are the user's events sent here: a replay read after this cannot miss one."""
        confirmed = self._confirmations.get(channel)
        if confirmed is None:
            confirmed = self._confirmations[channel] = asyncio.get_running_loop().create_future()
            self._request(subscribe=channel)
        try:
            # Shielded: other streams of the same user wait on the same confirmation.
            await asyncio.wait_for(asyncio.shield(confirmed), SUBSCRIBE_TIMEOUT_SECONDS)
        except (redis.exceptions.RedisError, OSError, TimeoutError) as exc:
            raise DependencyUnavailable(
                f"the live stream is unavailable ({exc!r})", dependency="redis"
            ) from exc

    def _request(self, *, subscribe: str | None = None, unsubscribe: str | None = None) -> None:
        if subscribe is not None:
            self._to_subscribe.add(subscribe)
        if unsubscribe is not None:
            self._to_unsubscribe.add(unsubscribe)
        if self._syncing is None or self._syncing.done():
            self._syncing = asyncio.create_task(self._sync())

    async def _sync(self) -> None:
        """Send what was asked for, one UNSUBSCRIBE and one SUBSCRIBE per round, in the order
        decided: Redis applies them in order on the one connection, so a channel dropped and wanted
        again ends up subscribed."""
        while self._to_subscribe or self._to_unsubscribe:
            asked, self._to_subscribe = self._to_subscribe, set()
            dropped, self._to_unsubscribe = self._to_unsubscribe, set()
            unsubscribe = [c for c in dropped if c not in self._connections and c in self._subscribed]
            subscribe = [c for c in asked if c in self._confirmations]
            self._subscribed.difference_update(unsubscribe)
            pubsub = self._pubsub
            try:
                if pubsub is None:
                    raise redis.exceptions.ConnectionError("the live stream's pub/sub is not connected")
                if unsubscribe:
                    await pubsub.unsubscribe(*unsubscribe)
                if subscribe:
                    await pubsub.subscribe(*subscribe)
            except (redis.exceptions.RedisError, OSError) as exc:
                # The reader sees the broken connection too and closes every stream.
                for channel in subscribe:
                    self._fail_confirmation(channel, exc)

    def _on_subscribed(self, channel: str) -> None:
        confirmed = self._confirmations.pop(channel, None)
        if confirmed is None:
            return
        self._subscribed.add(channel)
        if not confirmed.done():
            confirmed.set_result(None)
        if channel not in self._connections:  # every stream that wanted it left meanwhile
            self._request(unsubscribe=channel)

    def _fail_confirmation(self, channel: str, exc: BaseException) -> None:
        confirmed = self._confirmations.pop(channel, None)
        if confirmed is not None and not confirmed.done():
            confirmed.set_exception(exc)
            confirmed.exception()  # retrieved: nobody may be waiting any more

    def _mark_soon(self, user_ids: list[uuid.UUID]) -> asyncio.Task[None]:
        """Mark users live; the users asked for while a mark is on its way go in the next one."""
        self._to_mark.update(user_ids)
        if self._marking is None or self._marking.done():
            self._marking = asyncio.create_task(self._mark_pending())
        return self._marking

    async def _mark(self, user_ids: list[uuid.UUID]) -> None:
        await asyncio.shield(self._mark_soon(user_ids))

    async def _mark_pending(self) -> None:
        while self._to_mark:
            users, self._to_mark = list(self._to_mark), set()
            await self._mark_quietly(users)

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
            await self._mark(list(users))

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
                self._on_subscribed(channel)
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
        lost = redis.exceptions.ConnectionError("the live stream's pub/sub connection was lost")
        for channel in list(self._confirmations):
            self._fail_confirmation(channel, lost)
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
