"""The service's clients, built once in the lifespan, and the route dependencies that hand them out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from notifications.hub import LiveHub
from notifications.live import LiveStreams
from notifications.repository import NotificationRepository
from notifications.service import NotificationService
from notifications.stream import StreamSettings
from notifications.tickets import StreamTickets
from notifications.users_client import UsersClient
from shared.db.engine import read_only_sessions, transaction
from shared.revocation import Revocations


@dataclass(frozen=True)
class Clients:
    sessions: async_sessionmaker[AsyncSession]
    users: UsersClient
    hub: LiveHub
    streams: LiveStreams
    tickets: StreamTickets
    stream_settings: StreamSettings

    @property
    def reads(self) -> async_sessionmaker[AsyncSession]:
        return read_only_sessions(self.sessions)


def install(app_state: object, clients: Clients) -> None:
    app_state.notifications = clients  # type: ignore[attr-defined]


def _clients(request: HTTPConnection) -> Clients:
    clients: Clients = request.app.state.notifications
    return clients


def _revocations(request: HTTPConnection) -> Revocations:
    revocations: Revocations = request.app.state.revocations
    return revocations


async def _service(clients: Annotated[Clients, Depends(_clients)]) -> AsyncIterator[NotificationService]:
    async with transaction(clients.sessions) as session:
        yield NotificationService(NotificationRepository(session), clients.users)


ClientsDep = Annotated[Clients, Depends(_clients)]
RevocationsDep = Annotated[Revocations, Depends(_revocations)]
# scope="function": the transaction commits before the response is sent.
ServiceDep = Annotated[NotificationService, Depends(_service, scope="function")]
