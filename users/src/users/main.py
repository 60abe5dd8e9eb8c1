"""The users process: the app factory, its lifespan, and the entry point."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
from fastapi import FastAPI

from fleet_proto import user_service_pb2_grpc
from shared.auth import TokenCodec
from shared.cli import ServiceSpec, service_main
from shared.db.engine import read_only_sessions
from shared.db.raw import raw_pool
from shared.grpc.server import service_grpc_server
from shared.http.app import create_app as create_service_app
from shared.http.writer_state import writer_readiness
from shared.lifecycle import background, database, redis_client
from shared.messaging.outbox import RABBITMQ
from shared.messaging.publisher import RabbitPublisher
from shared.messaging.relay import OutboxRelay, rabbitmq_deliverer
from shared.ratelimit import RateLimiter
from shared.revocation import revocation_state
from shared.settings import Settings
from shared.wiring import install
from users import relations_api
from users.api import router
from users.deps import UsersWiring
from users.grpc_servicer import SERVICE_NAME, UserServicer

SERVICE = "users-service"
ALEMBIC_DIR = Path(__file__).parent / "alembic"


def create_app(settings: Settings) -> FastAPI:
    section = settings.userservice

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            # Closed last (the stack unwinds in reverse), after the relay that uses it has stopped.
            publisher = RabbitPublisher(
                settings.rabbitmq.url.get_secret_value(), settings.rabbitmq.queue_type
            )
            stack.push_async_callback(publisher.close)
            engine, sessions = await stack.enter_async_context(database(settings.database, section.database))
            pool = await stack.enter_async_context(raw_pool(settings.database, section.database))
            redis = await stack.enter_async_context(redis_client(settings.redis))
            relay = OutboxRelay(
                pool, settings.database.dsn(section.database), RABBITMQ, rabbitmq_deliverer(publisher)
            )
            revocations = await stack.enter_async_context(
                revocation_state(redis, settings.jwt.lifetime_seconds)
            )
            install(
                app,
                UsersWiring(
                    readiness=writer_readiness(engine, publisher, redis),
                    background={relay.background_name: relay.state},
                    token_codec=TokenCodec(settings.jwt),
                    revocations=revocations,
                    rate_limiter=RateLimiter(settings.redis, settings.ratelimit),
                    sessions=sessions,
                    read_sessions=read_only_sessions(sessions),
                ),
            )
            await publisher.declare_topology_early()

            def register(server: grpc.aio.Server) -> None:
                user_service_pb2_grpc.add_UserServicer_to_server(UserServicer(sessions), server)

            await stack.enter_async_context(
                service_grpc_server(section, settings.internal.service_token, [SERVICE_NAME], register)
            )
            await stack.enter_async_context(background("outbox-relay", relay.run))
            yield

    return create_service_app(
        title="users", routers=[router, relations_api.router], lifespan=lifespan, http=settings.http
    )


SPEC = ServiceSpec(
    name=SERVICE,
    create_app=create_app,
    section=lambda settings: settings.userservice,
    database=lambda settings: settings.userservice.database,
    alembic_dir=ALEMBIC_DIR,
)


def main() -> None:
    service_main(SPEC)


if __name__ == "__main__":
    main()
