"""A grpc.aio server with grpc.health.v1 and graceful shutdown, run inside an app's lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from pydantic import SecretStr

from shared.grpc.auth import ServiceTokenServerInterceptor
from shared.grpc.errors import DomainErrorServerInterceptor
from shared.metrics import registry as metrics
from shared.metrics.grpc import MetricsServerInterceptor
from shared.settings import ServiceSettings

logger = logging.getLogger(__name__)
Registrar = Callable[[grpc.aio.Server], None]


class RunningGrpcServer:
    def __init__(self, server: grpc.aio.Server, health: HealthServicer, port: int) -> None:
        self.server = server
        self.health = health
        self.port = port


@asynccontextmanager
async def grpc_server(
    host: str,
    port: int,
    service_names: list[str],
    register: Registrar,
    grace_seconds: float = 5.0,
    *,
    service_token: SecretStr,
    shared_port: bool = False,
) -> AsyncIterator[RunningGrpcServer]:
    """Start a gRPC server on host:port (0 picks a free port); on exit report NOT_SERVING, then stop.

    Every RPC but the health service requires `service_token` (UNAUTHENTICATED otherwise).

    The port is exclusive (a second server on it fails to start) unless `shared_port`: the worker
    processes of one service share it (SO_REUSEPORT)."""
    # The credential is checked first: an unauthenticated call never reaches a servicer. Metrics
    # wrap both, so refused calls are counted too.
    interceptors: list[grpc.aio.ServerInterceptor] = [
        ServiceTokenServerInterceptor(service_token),
        DomainErrorServerInterceptor(),
    ]
    if metrics.enabled():
        interceptors.insert(0, MetricsServerInterceptor())
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            ("grpc.so_reuseport", int(shared_port)),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ],
    )
    register(server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    bound_port = server.add_insecure_port(f"{host}:{port}")
    if bound_port == 0:
        raise RuntimeError(f"cannot bind the gRPC server to {host}:{port}")
    await server.start()
    for name in ["", *service_names]:
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    logger.info("gRPC serving %s on %s:%d", ", ".join(service_names), host, bound_port)
    try:
        yield RunningGrpcServer(server, health, bound_port)
    finally:
        # Tell load balancers to stop sending before in-flight calls get their grace period.
        await health.enter_graceful_shutdown()
        await server.stop(grace_seconds)


def service_grpc_server(
    section: ServiceSettings, service_token: SecretStr, service_names: list[str], register: Registrar
) -> AbstractAsyncContextManager[RunningGrpcServer]:
    """A service's gRPC server on its configured address, requiring the service token; the port is
    shared only between the service's own worker processes."""
    return grpc_server(
        section.bind_host,
        section.grpc_port,
        service_names,
        register,
        service_token=service_token,
        shared_port=section.workers > 1,
    )
