"""One open live stream, whatever the transport (SSE or WebSocket): the replay of what the client
missed, then the live events and heartbeats, and the end — when the token is revoked or expires,
the client falls behind, Redis goes, or the server stops. The stream only waits on its queue: the
hub fills it, the process's StreamWatcher adds heartbeats and ends it when the token goes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from notifications.connection import Closing, Connection, Heartbeat
from notifications.hub import LiveHub
from notifications.live import LiveEvent, LiveStreams, parse_event_id
from notifications.watch import StreamWatcher
from shared.auth import TokenClaims


class StreamSession:
    def __init__(self, connection: Connection, replay: list[LiveEvent]) -> None:
        self.connection = connection
        self._replay = replay

    @property
    def closing(self) -> Closing | None:
        return self.connection.closing

    @classmethod
    async def open(
        cls,
        hub: LiveHub,
        streams: LiveStreams,
        watcher: StreamWatcher,
        claims: TokenClaims,
        last_event_id: str | None,
    ) -> StreamSession:
        """Subscribe first, then read what was missed: an event published in between is in both,
        and the session sends it once. Raises InvalidInput (a malformed Last-Event-ID) or
        DependencyUnavailable (Redis down) before anything is sent."""
        if last_event_id:
            parse_event_id(last_event_id)
        connection = await hub.attach(claims)
        try:
            replay = await streams.since(claims.user_id, last_event_id) if last_event_id else []
        except BaseException:
            hub.detach(connection)
            raise
        watcher.watch(connection)
        return cls(connection, replay)

    async def items(self) -> AsyncIterator[LiveEvent | Heartbeat]:
        """Events in id order, each once, and heartbeats; ends with `closing` set."""
        last: tuple[int, int] = (-1, -1)
        for missed in self._replay:
            last = missed.position
            yield missed
        queue = self.connection.queue
        while (item := await queue.get()) is not None:
            if isinstance(item, LiveEvent):
                if item.position <= last:
                    continue  # already sent by the replay
                last = item.position
            yield item
