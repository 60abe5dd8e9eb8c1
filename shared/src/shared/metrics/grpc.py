"""Calls, errors and latency of a gRPC server, per RPC (the method names are bounded by the protos)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from shared.metrics.http import LATENCY_BUCKETS

HANDLED = Counter(
    "grpc_server_handled", "RPCs completed, by service, method and status code", ["service", "method", "code"]
)
LATENCY = Histogram(
    "grpc_server_handling_seconds",
    "Time to complete an RPC, by service and method",
    ["service", "method"],
    buckets=LATENCY_BUCKETS,
)


def _code_name(context: grpc.aio.ServicerContext, default: str) -> str:
    code = context.code()
    if code is None:
        return default
    if isinstance(code, grpc.StatusCode):
        return code.name
    try:  # grpc.aio keeps the code as its integer value
        return next(status.name for status in grpc.StatusCode if status.value[0] == code)
    except StopIteration:
        return default


class MetricsServerInterceptor(grpc.aio.ServerInterceptor):
    """Outermost interceptor: counts every call, unauthenticated ones included. Unary calls only
    (the fleet's RPCs); streaming handlers pass through untouched."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]] = handler.unary_unary  # type: ignore[assignment]
        service, _, method = handler_call_details.method.lstrip("/").rpartition("/")
        latency = LATENCY.labels(service, method)

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = "UNKNOWN"
            try:
                response = await inner(request, context)
                code = _code_name(context, "OK")
                return response
            except asyncio.CancelledError:
                code = "CANCELLED"
                raise
            except BaseException:
                code = _code_name(context, "UNKNOWN")
                raise
            finally:
                HANDLED.labels(service, method, code).inc()
                latency.observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
