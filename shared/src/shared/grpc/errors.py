"""Domain errors <-> gRPC status, once per direction, as interceptors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from shared.errors import DomainError, from_grpc_error

logger = logging.getLogger(__name__)


class DomainErrorServerInterceptor(grpc.aio.ServerInterceptor):
    """Turns a DomainError raised by a servicer into the matching status code."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]] = handler.unary_unary  # type: ignore[assignment]

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await inner(request, context)
            except DomainError as exc:
                await context.abort(exc.grpc_code, exc.detail)
            except Exception:
                logger.exception("unhandled error in %s", handler_call_details.method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")

        return grpc.unary_unary_rpc_method_handler(
            unary_unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class ClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Gives every call a deadline and turns a failed call into a DomainError."""

    def __init__(self, service: str, timeout_seconds: float) -> None:
        self._service = service
        self._timeout = timeout_seconds

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[grpc.aio.UnaryUnaryCall]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        if client_call_details.timeout is None:
            client_call_details = grpc.aio.ClientCallDetails(
                client_call_details.method,
                self._timeout,
                client_call_details.metadata,
                client_call_details.credentials,
                client_call_details.wait_for_ready,
            )
        try:
            call = await continuation(client_call_details, request)
            return await call
        except grpc.aio.AioRpcError as exc:
            raise from_grpc_error(exc.code(), exc.details(), self._service) from exc
