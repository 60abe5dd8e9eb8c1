"""The live stream's routes: GET /stream (Server-Sent Events), POST /stream/ticket (for browsers'
EventSource), GET /stream/ws (WebSocket, JSON frames {event, id, data})."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.websockets import WebSocketDisconnect

from notifications.connection import SLOW_CONSUMER, Closing
from notifications.deps import RevocationsDep, Wired
from notifications.live import LiveEvent
from notifications.schemas import StreamTicket
from notifications.sse import CLOSE_GRACE_SECONDS, EventStreamResponse
from notifications.stream import StreamSession
from notifications.tickets import MAX_TICKET_LENGTH
from shared.auth import CurrentUser, TokenClaims, TokenCodec, verified_claims
from shared.errors import DomainError, Unauthorized
from shared.http.problems import PROBLEM_RESPONSES, problem_responses
from shared.metrics.streams import open_stream

router = APIRouter(responses=PROBLEM_RESPONSES, tags=["stream"])
_bearer = HTTPBearer(auto_error=False, description="JWT from POST /login")
# How long a WebSocket client has to send its token as the first message.
FIRST_MESSAGE_SECONDS = 10.0


async def stream_claims(
    request: Request,
    wiring: Wired,
    revocations: RevocationsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ticket: Annotated[
        str | None, Query(max_length=MAX_TICKET_LENGTH, description="from POST /stream/ticket")
    ] = None,
) -> TokenClaims:
    """The caller, by the Authorization header or by a single-use ticket (never a token in the URL)."""
    if credentials is not None or ticket is None:
        if credentials is None:
            raise Unauthorized("missing bearer token")
        return verified_claims(request, credentials.credentials)
    claims = await wiring.tickets.redeem(ticket)
    if revocations.is_revoked(claims.user_id, claims.jti, claims.issued_at):
        raise Unauthorized("token has been revoked")
    return claims


@router.get(
    "/stream",
    response_class=EventStreamResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "update, delete and notification events"},
        **problem_responses(**{"503": "redis is unavailable"}),
    },
)
async def stream(
    claims: Annotated[TokenClaims, Depends(stream_claims)],
    wiring: Wired,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
    resume_from: Annotated[
        str | None,
        Query(
            alias="last_event_id",
            max_length=64,
            description="For a new EventSource (it cannot set Last-Event-ID): the last id it saw",
        ),
    ] = None,
) -> EventStreamResponse:
    """Server-Sent Events for the caller; `Last-Event-ID` replays the last few minutes."""
    session = await StreamSession.open(
        wiring.hub, wiring.streams, wiring.watcher, claims, last_event_id or resume_from
    )
    return EventStreamResponse(session, wiring.hub)


@router.post("/stream/ticket", response_model=StreamTicket, status_code=201)
async def stream_ticket(user: CurrentUser, wiring: Wired) -> StreamTicket:
    """A single-use ticket for `GET /stream?ticket=`, valid a few seconds."""
    ticket = await wiring.tickets.issue(user)
    return StreamTicket(ticket=ticket, expires_in=wiring.tickets.lifetime_seconds)


# WebSocket close codes: 4401 like HTTP 401; 1013 "try again later"; 1008 policy (slow consumer).
_WS_CODES = {401: 4401, 503: 1013, 429: 1008}


def _ws_code(closing: Closing) -> int:
    return _WS_CODES.get(closing.status, 1011)


@router.websocket("/stream/ws")
async def stream_ws(websocket: WebSocket, wiring: Wired, revocations: RevocationsDep) -> None:
    """The same events as /stream, as JSON text frames. The token comes as a Sec-WebSocket-Protocol
    value (echoed back), or as the first message: the token, or {"token", "last_event_id"}."""
    codec = wiring.token_codec
    claims, subprotocol = _claims_from_subprotocols(codec, websocket.scope.get("subprotocols") or [])
    await websocket.accept(subprotocol=subprotocol)
    last_event_id = websocket.query_params.get("last_event_id")
    try:
        if claims is None:
            claims, last_event_id = await _first_message(websocket, codec)
        if revocations.is_revoked(claims.user_id, claims.jti, claims.issued_at):
            raise Unauthorized("token has been revoked")
        session = await StreamSession.open(wiring.hub, wiring.streams, wiring.watcher, claims, last_event_id)
    except DomainError as exc:
        code = (
            4401
            if isinstance(exc, Unauthorized)
            else 1013
            if exc.http_status == 503
            else 4000 + exc.http_status
        )
        await websocket.close(code=code, reason=exc.detail[:120])
        return
    except WebSocketDisconnect:
        return
    try:
        with open_stream("websocket"):
            await _serve_websocket(websocket, session)
    finally:
        wiring.hub.detach(session.connection)


def _claims_from_subprotocols(codec: TokenCodec, offered: list[str]) -> tuple[TokenClaims | None, str | None]:
    for value in offered:
        with contextlib.suppress(Unauthorized):
            return codec.verify(value), value
    return None, None


async def _first_message(websocket: WebSocket, codec: TokenCodec) -> tuple[TokenClaims, str | None]:
    try:
        text = await asyncio.wait_for(websocket.receive_text(), FIRST_MESSAGE_SECONDS)
    except TimeoutError as exc:
        raise Unauthorized("no token within the first message") from exc
    token, last_event_id = text.strip(), None
    if text.lstrip().startswith("{"):
        try:
            message = orjson.loads(text)
            token, last_event_id = str(message.get("token", "")), message.get("last_event_id")
        except (orjson.JSONDecodeError, AttributeError) as exc:
            raise Unauthorized("the first message is not a token") from exc
    return codec.verify(token), (str(last_event_id) if last_event_id else None)


def _frame(event: LiveEvent) -> str:
    # The data is JSON already: embedded as it is, never parsed again.
    return f'{{"event":{orjson.dumps(event.event).decode()},"id":"{event.id}","data":{event.data}}}'


async def _serve_websocket(websocket: WebSocket, session: StreamSession) -> None:
    async def write() -> None:
        async for item in session.items():
            if isinstance(item, LiveEvent):  # heartbeats: the server's WebSocket pings keep it open
                await websocket.send_text(_frame(item))

    async def read() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    writer, reader = asyncio.create_task(write()), asyncio.create_task(read())
    ended = session.connection.ended
    done, _ = await asyncio.wait({writer, reader, ended}, return_when=asyncio.FIRST_COMPLETED)
    if ended in done and writer not in done:
        await asyncio.wait({writer, reader}, timeout=CLOSE_GRACE_SECONDS, return_when=asyncio.FIRST_COMPLETED)
    tasks = (writer, reader)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, OSError, RuntimeError):
            await task
    if reader in done:
        return  # the client left
    closing = session.closing or session.connection.closing or SLOW_CONSUMER
    with contextlib.suppress(Exception):
        await asyncio.wait_for(
            websocket.close(code=_ws_code(closing), reason=closing.reason[:120]), CLOSE_GRACE_SECONDS
        )
