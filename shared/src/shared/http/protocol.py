"""uvicorn's httptools protocol with deadlines on reading a request, and overload answered as such.

uvicorn bounds idle keep-alive connections but not a request being read: a client sending one
header line every few seconds, or announcing a large body and sending a byte of it, holds a
connection (and a slot of `limit_concurrency`) forever. Here each request must finish its headers
within one deadline and then its body within another, or it is answered 408 and the connection is
closed. A fresh connection that sends nothing is closed after the header deadline too.

uvicorn answers requests past `limit_concurrency` with a plain-text 503; here it is the fleet's
503 problem+json "overloaded" with Retry-After.
"""

from __future__ import annotations

import asyncio

from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from shared.http.limits import SECURITY_HEADERS, problem_bytes
from shared.http.problems import PROBLEM_MEDIA_TYPE
from shared.settings import HttpSettings

OVERLOADED_RETRY_AFTER_SECONDS = 1


def _problem_headers(body: bytes, *extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *SECURITY_HEADERS,
        *extra,
    ]


_TIMEOUT_BODY = problem_bytes(408, "Request timeout", "the request was not received in time", "http-408")
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    + b"".join(name + b": " + value + b"\r\n" for name, value in _problem_headers(_TIMEOUT_BODY))
    + b"\r\n"
    + _TIMEOUT_BODY
)
_OVERLOADED_BODY = problem_bytes(
    503, "Overloaded", "too many concurrent requests; retry shortly", "overloaded"
)


async def overloaded(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """The answer to a request past the concurrency limit."""
    retry_after = (b"retry-after", str(OVERLOADED_RETRY_AFTER_SECONDS).encode())
    headers = _problem_headers(_OVERLOADED_BODY, retry_after)
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": _OVERLOADED_BODY, "more_body": False})


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # the first request's deadline runs from the connection
            self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        super()._start_asgi_task(cycle, overloaded if app is service_unavailable else app)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        # 408 unless a response is being sent (the cycle may be the previous, finished request's).
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(_TIMEOUT_RESPONSE)
        # The route waiting on the body sees a disconnect; nothing more is read from this client.
        self.transport.close()


def deadline_protocol(http: HttpSettings) -> type[DeadlineHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, with these deadlines."""
    return type(
        "ConfiguredHttpToolsProtocol",
        (DeadlineHttpToolsProtocol,),
        {"header_timeout": http.header_timeout_seconds, "body_timeout": http.body_timeout_seconds},
    )
