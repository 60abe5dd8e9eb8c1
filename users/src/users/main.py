"""The users process: the app factory, its lifespan, and the entry point."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
from fastapi import FastAPI

from fleet_proto import user_service_pb2_grpc
from shared.cli import ServiceSpec, service_main
from shared.db.raw import raw_pool
from shared.grpc.server import service_grpc_server
from shared.http.app import create_app as create_service_app
from shared.http.writer_state import install_writer_state
from shared.lifecycle import background, database, redis_client
from shared.messaging.outbox import RABBITMQ
from shared.messaging.publisher import RabbitPublisher
from shared.messaging.relay import OutboxRelay, rabbitmq_deliverer
from shared.revocation import revocation_state
from shared.settings import Settings
from users import relations_api
from users.api import router
from users.grpc_servicer import SERVICE_NAME, UserServicer

SERVICE = "users-service"
ALEMBIC_DIR = Path(__file__).parent / "alembic"


def create_app(settings: Settings) -> FastAPI:
    section = settings.userservice

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        publisher = RabbitPublisher(settings.rabbitmq.url.get_secret_value(), settings.rabbitmq.queue_type)
        async with (
            database(settings.database, section.database) as (engine, sessions),
            raw_pool(settings.database, section.database) as pool,
            redis_client(settings.redis) as redis,
        ):
            relay = OutboxRelay(
                pool, settings.database.dsn(section.database), RABBITMQ, rabbitmq_deliverer(publisher)
            )
            app.state.background[relay.background_name] = relay.state
            await install_writer_state(
                app, settings, engine=engine, sessions=sessions, redis=redis, publisher=publisher
            )

            def register(server: grpc.aio.Server) -> None:
                user_service_pb2_grpc.add_UserServicer_to_server(UserServicer(sessions), server)

            async with (
                service_grpc_server(
                    section, settings.internal.service_token, [SERVICE_NAME], register
                ) as grpc,
                revocation_state(app, redis, settings.jwt.lifetime_seconds),
                background("outbox-relay", relay.run),
            ):
                app.state.grpc_port = grpc.port
                yield
        await publisher.close()

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
