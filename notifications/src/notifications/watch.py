"""One task per process that drives every open stream's heartbeats and token checks.

A stream used to wake every second on a timer of its own to look at its token and the clock; with
10,000 idle streams that is 10,000 timers and wake-ups a second for nothing. Here the streams wait
on their queues only: the watcher puts a heartbeat into each queue when it is due (a heap ordered by
due time, so it sleeps until the next one exactly), and once a second walks the open streams'
tokens (the in-process revocation copy and the expiry: no round trip) to close the ones that went.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time

from notifications.connection import Closing, Connection
from shared.revocation import Revocations

TOKEN_REVOKED = Closing("token has been revoked", 401)
TOKEN_EXPIRED = Closing("token has expired", 401)
# How often the open streams' tokens are checked: a revoked or expired token closes within this.
CHECK_SECONDS = 1.0


class StreamWatcher:
    def __init__(
        self, revocations: Revocations, heartbeat_seconds: float, check_seconds: float = CHECK_SECONDS
    ) -> None:
        self._revocations = revocations
        self.heartbeat_seconds = heartbeat_seconds
        self._check_seconds = check_seconds
        # (when the next heartbeat is due, a tie-breaker, the connection): every watched connection once.
        self._due: list[tuple[float, int, Connection]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._wake_at = float("inf")

    @property
    def watched(self) -> int:
        return len(self._due)

    def watch(self, connection: Connection) -> None:
        """Heartbeats for the connection from one interval on, and its token checked, until it ends."""
        due = asyncio.get_running_loop().time() + self.heartbeat_seconds
        heapq.heappush(self._due, (due, next(self._order), connection))
        if due < self._wake_at:  # only with a heartbeat shorter than the token checks' interval
            self._wake.set()

    def check_tokens(self) -> None:
        """Close the watched connections whose token was revoked or has expired."""
        now = time.time()
        is_revoked = self._revocations.is_revoked
        for _, _, connection in self._due:
            if not connection.live:
                continue
            claims = connection.claims
            if is_revoked(claims.user_id, claims.jti, claims.issued_at):
                connection.close(TOKEN_REVOKED)
            elif claims.expires_at <= now:
                connection.close(TOKEN_EXPIRED)

    def _beat_due(self, now: float) -> None:
        while self._due and self._due[0][0] <= now:
            due, order, connection = heapq.heappop(self._due)
            if connection.live:  # an ended connection leaves the heap here
                connection.beat()
                # From when it was due, not from now: a late round does not push every later one back.
                heapq.heappush(self._due, (max(due + self.heartbeat_seconds, now), order, connection))

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` (seen within a token-check interval)."""
        loop = asyncio.get_running_loop()
        next_check = loop.time() + self._check_seconds
        while not stop.is_set():
            now = loop.time()
            self._beat_due(now)
            if now >= next_check:
                self.check_tokens()
                next_check = now + self._check_seconds
            self._wake_at = min(next_check, self._due[0][0]) if self._due else next_check
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, self._wake_at - loop.time()))
        self._wake_at = float("inf")
