"""What the notifications routes get from the lifespan's wiring, as typed dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from notifications.hub import LiveHub
from notifications.live import LiveStreams
from notifications.repository import NotificationRepository
from notifications.service import NotificationService
from notifications.tickets import StreamTickets
from notifications.users_client import UsersClient
from notifications.watch import StreamWatcher
from shared.db.engine import transaction
from shared.revocation import Revocations
from shared.wiring import Authenticating, Storing, wiring_of


@dataclass(kw_only=True)
class NotificationsWiring(Authenticating, Storing):
    """Everything the notifications process builds in its lifespan for its routes and /ready."""

    users: UsersClient
    # The live stream: the per-process hub of connections, the per-user Redis streams (replay),
    # single-use tickets for EventSource, the watcher of every stream's heartbeats and token.
    hub: LiveHub
    streams: LiveStreams
    tickets: StreamTickets
    watcher: StreamWatcher


# HTTPConnection: the same dependencies serve the WebSocket route.
async def _wiring(connection: HTTPConnection) -> NotificationsWiring:
    return wiring_of(connection.app, NotificationsWiring)


Wired = Annotated[NotificationsWiring, Depends(_wiring)]


async def _revocations(wiring: Wired) -> Revocations:
    return wiring.revocations


async def _service(wiring: Wired) -> AsyncIterator[NotificationService]:
    async with transaction(wiring.sessions) as session:
        yield NotificationService(NotificationRepository(session), wiring.users)


RevocationsDep = Annotated[Revocations, Depends(_revocations)]
# scope="function": the transaction commits before the response is sent.
ServiceDep = Annotated[NotificationService, Depends(_service, scope="function")]
