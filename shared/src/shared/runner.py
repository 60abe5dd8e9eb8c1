"""Process entry points: one event loop (uvloop) serving REST with uvicorn; gRPC runs in the lifespan.

uvicorn owns the signals: SIGINT/SIGTERM end the lifespan, which stops the gRPC server gracefully,
so both transports stop through one path.

A stateless service may run several such processes (`workers`), one per core: the first forks the
others before anything starts, each binds the REST port with SO_REUSEPORT (gRPC servers set it
themselves), so the kernel spreads connections over them. The first process stops the others when
it stops, and the others stop by themselves if it dies (a parent-death signal). Their metrics are
collected in prometheus-client's multiprocess mode (shared.metrics.registry), so a scrape of the
shared port reaches any of them and sees the service's totals.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable

import uvicorn
from fastapi import FastAPI
from uvicorn.config import LifespanType

from shared.http.protocol import deadline_protocol
from shared.log import configure_logging
from shared.metrics import registry as metrics
from shared.settings import HttpSettings, ServiceSettings, Settings
from shared.telemetry import setup_tracing

logger = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def run_service(service: ServiceSettings, app: FastAPI, http: HttpSettings, workers: int = 1) -> None:
    """Serve `app` (REST) and, through its lifespan, its gRPC server until a signal arrives;
    in `workers` processes sharing the ports."""
    config = uvicorn_config(service, app, http)
    freeze_startup_objects()
    if workers <= 1:
        uvicorn.Server(config).run()
        return
    if metrics.enabled():
        metrics.use_multiprocess()  # before the fork: the others inherit the folder
    first = os.getpid()
    children = [_fork_worker(service, config, first) for _ in range(workers - 1)]
    try:
        uvicorn.Server(config).run(sockets=[_reuse_port_socket(service)])
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            metrics.process_exited(pid)
        metrics.release_multiprocess()


def _fork_worker(service: ServiceSettings, config: uvicorn.Config, first: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    status = 0
    try:
        # Stop (gracefully) if the first process dies, even by SIGKILL; it may already have.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        metrics.process_started()
        if os.getppid() == first:
            uvicorn.Server(config).run(sockets=[_reuse_port_socket(service)])
    except BaseException:
        logger.exception("worker process failed")
        status = 1
    finally:
        logging.shutdown()
        os._exit(status)


def _reuse_port_socket(service: ServiceSettings) -> socket.socket:
    family = socket.AF_INET6 if ":" in service.bind_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((service.bind_host, service.rest_port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(
    service: ServiceSettings, app: FastAPI, http: HttpSettings, lifespan: LifespanType = "on"
) -> uvicorn.Config:
    """The server of one process: bounded connections and request deadlines (shared.http.protocol),
    and no `server` banner. The Date header stays: HTTP requires it of a server with a clock."""
    return uvicorn.Config(
        app,
        host=service.bind_host,
        port=service.rest_port,
        loop="uvloop",
        http=deadline_protocol(http),
        lifespan=lifespan,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        limit_concurrency=http.max_concurrency,
        timeout_keep_alive=http.keep_alive_seconds,
        server_header=False,
        # Forwarded headers are read only from [RateLimit] trusted_proxies (shared.ratelimit), never
        # from uvicorn's default of trusting loopback.
        proxy_headers=False,
    )


def freeze_startup_objects() -> None:
    """Move everything made so far (modules, routes, schemas, models) out of the garbage
    collector's sight: they live as long as the process, and every full collection would walk
    them again (~15% of a busy service's CPU). Forked workers share the frozen pages, too."""
    gc.collect()
    gc.freeze()


def prepare_process(service_name: str, settings: Settings) -> None:
    """Logging, tracing and metrics, the first thing every process does."""
    configure_logging(service_name, settings.log_level)
    metrics.configure(settings.metrics)
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

    freeze_startup_objects()
    uvloop.run(runner())
