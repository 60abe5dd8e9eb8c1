"""The search process: the app factory, its lifespan, and the entry point."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
from fastapi import FastAPI

from fleet_proto import search_service_pb2_grpc
from search.api import router
from search.backends import create_backend
from search.deps import SearchWiring
from search.grpc_servicer import SERVICE_NAME, SearchServicer
from search.service import SearchService
from shared.cli import ServiceSpec, load_settings_or_exit, service_main
from shared.errors import DependencyUnavailable
from shared.grpc.server import service_grpc_server
from shared.http.app import create_app as create_service_app
from shared.http.readiness import ReadinessCheck
from shared.ratelimit import RateLimiter
from shared.runner import prepare_process
from shared.settings import Settings
from shared.wiring import install

SERVICE = "search-service"
ALEMBIC_DIR = Path(__file__).parent / "alembic"
logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    section = settings.searchservice

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            backend = create_backend(settings)
            stack.push_async_callback(backend.close)
            try:
                await backend.setup()
            except DependencyUnavailable:
                # Start anyway: /ready says what is down, and writes create the index later.
                logger.warning("%s is unavailable at start-up; the index is set up later", backend.name)
            install(
                app,
                SearchWiring(
                    readiness=[ReadinessCheck(backend.name, backend.ping)],
                    # Per-address limit on reads; fails open (search stays up when Redis is down).
                    rate_limiter=RateLimiter(settings.redis, settings.ratelimit),
                    backend=backend,
                    searcher=SearchService(backend),
                ),
            )

            def register(server: grpc.aio.Server) -> None:
                search_service_pb2_grpc.add_SearchServicer_to_server(SearchServicer(backend), server)

            await stack.enter_async_context(
                service_grpc_server(section, settings.internal.service_token, [SERVICE_NAME], register)
            )
            yield

    return create_service_app(title="search", routers=[router], lifespan=lifespan, http=settings.http)


# The PostgreSQL backend's database, migrated by `search migrate` (and by the test fixtures).
SPEC = ServiceSpec(
    name=SERVICE,
    create_app=create_app,
    section=lambda settings: settings.searchservice,
    database=lambda settings: settings.searchservice.database,
    alembic_dir=ALEMBIC_DIR,
)


async def create_index(settings: Settings) -> None:
    """`migrate` for the Elasticsearch backend: the index and its mapping, if missing."""
    backend = create_backend(settings)
    try:
        await backend.setup()
    finally:
        await backend.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=SERVICE)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    parser.add_argument(
        "--migrate", action="store_true", help="migrate the database (or create the index) before serving"
    )
    args = parser.parse_args(argv)
    settings = load_settings_or_exit()
    if not settings.elasticsearch.url:
        service_main(SPEC, argv)
        return
    # Elasticsearch holds the index: no database to migrate, `migrate` creates the index instead.
    if args.command == "migrate" or args.migrate:
        prepare_process(SERVICE, settings)
        try:
            asyncio.run(create_index(settings))
        except DependencyUnavailable as exc:
            logger.error("cannot create the index: %s", exc.detail)
            raise SystemExit(1) from None
        if args.command == "migrate":
            return
    service_main(dataclasses.replace(SPEC, database=None, alembic_dir=None), ["serve"])


if __name__ == "__main__":
    main()
