"""The notifications process: the app factory, its lifespan, and the entry point."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
from fastapi import FastAPI

from fleet_proto import notification_service_pb2_grpc, user_service_pb2_grpc
from notifications.api import router
from notifications.connection import SHUTTING_DOWN
from notifications.deps import NotificationsWiring
from notifications.grpc_servicer import SERVICE_NAME, NotificationServicer
from notifications.hub import LiveHub
from notifications.live import LivePresence, LiveStreams
from notifications.stream_api import router as stream_router
from notifications.tickets import StreamTickets
from notifications.users_client import UsersClient
from notifications.watch import StreamWatcher
from shared.auth import TokenCodec
from shared.cli import ServiceSpec, service_main
from shared.db.engine import ping, read_only_sessions
from shared.grpc.channels import open_channel
from shared.grpc.server import service_grpc_server
from shared.http.app import create_app as create_service_app
from shared.http.readiness import ReadinessCheck
from shared.lifecycle import background, database, redis_client, redis_ping
from shared.revocation import revocation_state
from shared.settings import Settings
from shared.wiring import install

SERVICE = "notification-service"
ALEMBIC_DIR = Path(__file__).parent / "alembic"


def create_app(settings: Settings) -> FastAPI:
    section = settings.notificationservice

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            users_channel = open_channel(
                settings.userservice.grpc_target,
                "users",
                settings.userservice.grpc_timeout_seconds,
                settings.internal.service_token,
            )
            stack.push_async_callback(users_channel.close, None)
            engine, sessions = await stack.enter_async_context(database(settings.database, section.database))
            redis = await stack.enter_async_context(redis_client(settings.redis))
            hub = LiveHub(redis, section.stream_queue_size, LivePresence(redis, section.replay_seconds))
            revocations = await stack.enter_async_context(
                revocation_state(redis, settings.jwt.lifetime_seconds)
            )
            watcher = StreamWatcher(revocations, section.heartbeat_seconds)
            install(
                app,
                NotificationsWiring(
                    readiness=[
                        ReadinessCheck("postgresql", lambda: ping(engine)),
                        ReadinessCheck("redis", lambda: redis_ping(redis)),
                    ],
                    token_codec=TokenCodec(settings.jwt),
                    revocations=revocations,
                    sessions=sessions,
                    read_sessions=read_only_sessions(sessions),
                    users=UsersClient(user_service_pb2_grpc.UserStub(users_channel)),
                    hub=hub,
                    streams=LiveStreams(redis, section.replay_seconds, section.replay_max_events),
                    tickets=StreamTickets(redis, section.ticket_seconds),
                    watcher=watcher,
                ),
            )

            def register(server: grpc.aio.Server) -> None:
                notification_service_pb2_grpc.add_NotificationsServicer_to_server(
                    NotificationServicer(sessions), server
                )

            await stack.enter_async_context(background("live-hub", hub.run))
            await stack.enter_async_context(background("stream-watcher", watcher.run))
            await stack.enter_async_context(
                service_grpc_server(section, settings.internal.service_token, [SERVICE_NAME], register)
            )
            try:
                yield
            finally:
                # Open streams end now (with a reason), before the server stops and Redis closes.
                hub.close_all(SHUTTING_DOWN)

    return create_service_app(
        title="notifications", routers=[router, stream_router], lifespan=lifespan, http=settings.http
    )


SPEC = ServiceSpec(
    name=SERVICE,
    create_app=create_app,
    section=lambda settings: settings.notificationservice,
    database=lambda settings: settings.notificationservice.database,
    alembic_dir=ALEMBIC_DIR,
)


def main() -> None:
    service_main(SPEC)


if __name__ == "__main__":
    main()
