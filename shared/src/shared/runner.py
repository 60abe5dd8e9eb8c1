"""Process entry points: one event loop (uvloop) serving REST with uvicorn; gRPC runs in the lifespan.

uvicorn owns the signals: SIGINT/SIGTERM end the lifespan, which stops the gRPC server gracefully,
so both transports stop through one path.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import uvicorn
from fastapi import FastAPI

from shared.log import configure_logging
from shared.settings import ServiceSettings, Settings
from shared.telemetry import setup_tracing


def run_service(service: ServiceSettings, app: FastAPI) -> None:
    """Serve `app` (REST) and, through its lifespan, its gRPC server until a signal arrives."""
    config = uvicorn.Config(
        app,
        host=service.bind_host,
        port=service.rest_port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


def prepare_process(service_name: str, settings: Settings) -> None:
    """Logging and tracing, the first thing every process does."""
    configure_logging(service_name, settings.log_level)
    setup_tracing(service_name, settings.otlp_endpoint)


def run_worker(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run a worker's main coroutine on uvloop until SIGINT/SIGTERM sets the stop event."""
    import uvloop

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    uvloop.run(runner())
