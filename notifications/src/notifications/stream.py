"""One open live stream, whatever the transport (SSE or WebSocket): the replay of what the client
missed, then the live events, heartbeats, and the end — when the token is revoked or expires, the
client falls behind, Redis goes, or the server stops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from notifications.hub import Closing, Connection, LiveHub
from notifications.live import LiveEvent, LiveStreams, parse_event_id
from shared.auth import TokenClaims
from shared.revocation import Revocations

TOKEN_REVOKED = Closing("token has been revoked", 401)
TOKEN_EXPIRED = Closing("token has expired", 401)
# How often an idle stream looks at its token's revocation (the in-process copy, no round trip).
CHECK_SECONDS = 1.0


class Heartbeat:
    """Nothing happened for a heartbeat interval."""


HEARTBEAT = Heartbeat()


@dataclass
class StreamSettings:
    heartbeat_seconds: float


class StreamSession:
    def __init__(
        self,
        connection: Connection,
        replay: list[LiveEvent],
        claims: TokenClaims,
        revocations: Revocations,
        settings: StreamSettings,
    ) -> None:
        self.connection = connection
        self._replay = replay
        self._claims = claims
        self._revocations = revocations
        self._heartbeat = settings.heartbeat_seconds
        self.closing: Closing | None = None

    @classmethod
    async def open(
        cls,
        hub: LiveHub,
        streams: LiveStreams,
        claims: TokenClaims,
        revocations: Revocations,
        settings: StreamSettings,
        last_event_id: str | None,
    ) -> StreamSession:
        """Subscribe first, then read what was missed: an event published in between is in both,
        and the session sends it once. Raises InvalidInput (a malformed Last-Event-ID) or
        DependencyUnavailable (Redis down) before anything is sent."""
        if last_event_id:
            parse_event_id(last_event_id)
        connection = await hub.attach(claims.user_id)
        try:
            replay = await streams.since(claims.user_id, last_event_id) if last_event_id else []
        except BaseException:
            hub.detach(connection)
            raise
        return cls(connection, replay, claims, revocations, settings)

    def _token_closing(self) -> Closing | None:
        claims = self._claims
        if self._revocations.is_revoked(claims.user_id, claims.jti, claims.issued_at):
            return TOKEN_REVOKED
        if claims.expires_at <= time.time():
            return TOKEN_EXPIRED
        return None

    async def _next(self) -> LiveEvent | None:
        return await self.connection.queue.get()

    async def items(self) -> AsyncIterator[LiveEvent | Heartbeat]:
        """Events in id order, each once, and heartbeats; ends with `closing` set."""
        last: tuple[int, int] = (-1, -1)
        for missed in self._replay:
            last = missed.position
            yield missed
        loop = asyncio.get_running_loop()
        next_heartbeat = loop.time() + self._heartbeat
        while True:
            self.closing = self.connection.closing or self._token_closing()
            if self.closing is not None:
                return
            now = loop.time()
            if now >= next_heartbeat:
                next_heartbeat = now + self._heartbeat
                yield HEARTBEAT
                continue
            wait = min(CHECK_SECONDS, next_heartbeat - now, max(0.0, self._claims.expires_at - time.time()))
            try:
                event = await asyncio.wait_for(self._next(), wait)
            except TimeoutError:
                continue
            if event is None:  # the hub closed the connection
                continue
            if event.position <= last:
                continue  # already sent by the replay
            last = event.position
            yield event
