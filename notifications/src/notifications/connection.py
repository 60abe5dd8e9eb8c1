"""One open live stream of a user as the hub and the watcher see it: a bounded queue of what waits
to be written, and why the server ends it (if it does)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from notifications.live import LiveEvent, stream_key
from shared.auth import TokenClaims


@dataclass(frozen=True)
class Closing:
    """Why the server ends a stream: sent to the client as the last event."""

    reason: str
    status: int
    retry_ms: int | None = None


SLOW_CONSUMER = Closing("slow consumer: the client fell too far behind; resume with Last-Event-ID", 429, 1000)
REDIS_DOWN = Closing("redis unavailable", 503, 5000)
SHUTTING_DOWN = Closing("server shutting down", 503, 1000)


class Heartbeat:
    """Nothing needs writing, but the client should hear from the server (a comment line in SSE)."""


HEARTBEAT = Heartbeat()


class Connection:
    """One open stream of a user: the items waiting to be written, and why it ends (if it does).

    Nothing here owns a task or a timer: the hub's reader offers events, the process's
    StreamWatcher offers heartbeats and closes it when its token goes, the writer takes from `queue`.
    """

    def __init__(self, claims: TokenClaims, capacity: int) -> None:
        self.claims = claims
        self.user_id = claims.user_id
        self.channel = stream_key(claims.user_id)
        # + the end marker. A queued heartbeat takes a place too, but only ever into an empty queue.
        self.queue: asyncio.Queue[LiveEvent | Heartbeat | None] = asyncio.Queue(capacity + 1)
        self._capacity = capacity
        self.closing: Closing | None = None
        # A future, not an Event: writers wait on it beside their own tasks without a task of its own.
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.detached = False

    @property
    def live(self) -> bool:
        return self.closing is None and not self.detached

    def offer(self, event: LiveEvent) -> None:
        if self.closing is not None:
            return
        if self.queue.qsize() >= self._capacity:
            self.close(SLOW_CONSUMER)
            return
        self.queue.put_nowait(event)

    def beat(self) -> None:
        """A heartbeat, unless something is already waiting to be written (that will do)."""
        if self.live and self.queue.empty():
            self.queue.put_nowait(HEARTBEAT)

    def close(self, closing: Closing) -> None:
        """End the stream: queued events are dropped (the client replays them), the writer wakes."""
        if self.closing is not None:
            return
        self.closing = closing
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
        if not self.ended.done():
            self.ended.set_result(None)
