"""A Server-Sent Events client for tests that parses the stream exactly as the HTML standard's
"event stream interpretation" says a browser's EventSource does (html.spec.whatwg.org, 9.2.6):
UTF-8, BOM dropped, lines ended by CRLF, LF or CR; `:` lines are comments; `field: value` with one
leading space dropped; `data` lines joined with LF; a blank line dispatches; `id` without NUL sets
the last event id, kept across events; an event with no data is not dispatched."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class MessageEvent:
    type: str
    data: str
    last_event_id: str


@dataclass
class EventStreamParser:
    events: list[MessageEvent] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry_ms: int | None = None
    last_event_id: str = ""
    _buffer: str = ""
    _data: str = ""
    _type: str = ""
    _started: bool = False
    _pending_cr: bool = False
    _decoder: object = None

    def feed(self, chunk: bytes) -> list[MessageEvent]:
        """Parse more bytes; returns the events dispatched by them."""
        import codecs

        if self._decoder is None:
            self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = self._decoder.decode(chunk)  # type: ignore[attr-defined]
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        before = len(self.events)
        for char in text:
            if self._pending_cr:
                self._pending_cr = False
                if char == "\n":
                    continue  # the LF of a CRLF
            if char in "\r\n":
                self._pending_cr = char == "\r"
                self._line(self._buffer)
                self._buffer = ""
            else:
                self._buffer += char
        return self.events[before:]

    def _line(self, line: str) -> None:
        if line == "":
            self._dispatch()
            return
        if line.startswith(":"):
            self.comments.append(line[1:])
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._type = value
        elif name == "data":
            self._data += value + "\n"
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        # Any other field (or an id with NUL, a retry not all digits) is ignored.

    def _dispatch(self) -> None:
        if self._data == "":
            self._type = ""
            return
        data = self._data.removesuffix("\n")
        self.events.append(MessageEvent(self._type or "message", data, self.last_event_id))
        self._data = ""
        self._type = ""


class SSEStream:
    """An open GET /stream: events arrive in `queue`; `ended` is set when the server closes it."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.parser = EventStreamParser()
        self.queue: asyncio.Queue[MessageEvent] = asyncio.Queue()
        self.ended = asyncio.Event()
        self.raw = bytearray()

    async def pump(self) -> None:
        try:
            async for chunk in self.response.aiter_raw():
                self.raw += chunk
                for event in self.parser.feed(chunk):
                    self.queue.put_nowait(event)
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    async def next(self, timeout: float = 5.0) -> MessageEvent:
        return await asyncio.wait_for(self.queue.get(), timeout)


@contextlib.asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, path: str = "/stream", headers: dict[str, str] | None = None
) -> AsyncIterator[SSEStream]:
    async with client.stream("GET", path, headers=headers, timeout=httpx.Timeout(10, read=None)) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        stream = SSEStream(response)
        task = asyncio.create_task(stream.pump())
        try:
            yield stream
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
