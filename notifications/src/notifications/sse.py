"""Server-Sent Events framed as the HTML standard parses them (`id:`, `event:`, `data:` lines, a
blank line to dispatch; `:` comment lines as heartbeats; `retry:` the reconnection delay)."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from notifications.connection import Closing, Heartbeat
from notifications.hub import LiveHub
from notifications.live import LiveEvent
from notifications.stream import StreamSession
from shared.metrics.streams import open_stream

HEARTBEAT_FRAME = b": heartbeat\n\n"
# Sent first: flushes the headers through proxies and tells the browser how soon to reconnect.
OPENING_FRAME = b"retry: 3000\n: connected\n\n"
# A client that does not take the last frame in this long is cut off without it.
CLOSE_GRACE_SECONDS = 1.0


def event_frame(event: LiveEvent) -> bytes:
    # A data value with line breaks becomes one data: line per line (the parser joins them with \n).
    lines = "".join(f"data: {line}\n" for line in event.data.splitlines() or [""])
    return f"id: {event.id}\nevent: {event.event}\n{lines}\n".encode()


def closing_frame(closing: Closing) -> bytes:
    retry = f"retry: {closing.retry_ms}\n" if closing.retry_ms is not None else ""
    data = orjson.dumps({"reason": closing.reason, "status": closing.status}).decode()
    return f"{retry}event: close\ndata: {data}\n\n".encode()


class EventStreamResponse(Response):
    """The stream of one session. The writer is cut off when the hub ends the connection even if
    the client stopped reading (a blocked write would otherwise hold it forever)."""

    media_type = "text/event-stream"

    def __init__(self, session: StreamSession, hub: LiveHub) -> None:
        super().__init__(
            status_code=200,
            headers={"cache-control": "no-cache, no-store", "x-accel-buffering": "no"},
            media_type=self.media_type,
        )
        # A stream has no length: Response adds `content-length: 0` for an empty body.
        self.raw_headers = [(name, value) for name, value in self.raw_headers if name != b"content-length"]
        self._session = session
        self._hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with open_stream("sse"):
            await self._serve(receive, send)

    async def _serve(self, receive: Receive, send: Send) -> None:
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            )
            writer = asyncio.create_task(self._write(send))
            disconnected = asyncio.create_task(_disconnect(receive))
            # `ended` is the hub's future: it ends a writer stuck on a client that stopped reading.
            ended = self._session.connection.ended
            done, _ = await asyncio.wait({writer, disconnected, ended}, return_when=asyncio.FIRST_COMPLETED)
            if ended in done and writer not in done:
                # Let the writer send the closing frame if the client still reads at all.
                await asyncio.wait(
                    {writer, disconnected}, timeout=CLOSE_GRACE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
            for task in (writer, disconnected):
                task.cancel()
            for task in (writer, disconnected):
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await task
        finally:
            self._hub.detach(self._session.connection)

    async def _write(self, send: Send) -> None:
        async def emit(body: bytes) -> None:
            await send({"type": "http.response.body", "body": body, "more_body": True})

        await emit(OPENING_FRAME)
        async for item in self._session.items():
            await emit(HEARTBEAT_FRAME if isinstance(item, Heartbeat) else event_frame(item))
        if self._session.closing is not None:
            await emit(closing_frame(self._session.closing))
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
