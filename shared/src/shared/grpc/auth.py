"""The internal gRPC credential: a shared service token in the `authorization` metadata.

Clients add `authorization: Bearer <token>` to every call; servers refuse a call without it, or
with another token, with UNAUTHENTICATED before the servicer runs. `grpc.health.v1.Health` stays
open so load balancers and orchestrators can probe without the secret.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from pydantic import SecretStr

HEALTH_PREFIX = "/grpc.health.v1.Health/"
_UNAUTHENTICATED = "missing or invalid service credential"


def _bearer(token: SecretStr) -> bytes:
    return f"Bearer {token.get_secret_value()}".encode()


class ServiceTokenClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Adds the service token to every unary call of a channel."""

    def __init__(self, token: SecretStr) -> None:
        self._metadata = ("authorization", _bearer(token).decode())

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[grpc.aio.UnaryUnaryCall]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        metadata = grpc.aio.Metadata(*(client_call_details.metadata or ()))
        metadata.add(*self._metadata)
        details = grpc.aio.ClientCallDetails(
            client_call_details.method,
            client_call_details.timeout,
            metadata,
            client_call_details.credentials,
            client_call_details.wait_for_ready,
        )
        return await continuation(details, request)


class ServiceTokenServerInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call but health checks unless it carries the service token."""

    def __init__(self, token: SecretStr) -> None:
        self._expected = _bearer(token)

    def _authenticated(self, details: grpc.HandlerCallDetails) -> bool:
        presented = [value for key, value in (details.invocation_metadata or ()) if key == "authorization"]
        if len(presented) != 1:
            return False
        value = presented[0]
        value_bytes = value if isinstance(value, bytes) else str(value).encode()
        # Constant time: the comparison must not reveal how much of a guess was right.
        return hmac.compare_digest(value_bytes, self._expected)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method
        if method.startswith(HEALTH_PREFIX) or self._authenticated(handler_call_details):
            return await continuation(handler_call_details)
        return _refusal(await continuation(handler_call_details))


def _refusal(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that aborts with UNAUTHENTICATED."""
    if handler is None:
        return handler  # an unknown method: gRPC answers UNIMPLEMENTED, which says nothing secret

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _UNAUTHENTICATED)

    async def refuse_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _UNAUTHENTICATED)
        yield  # pragma: no cover - makes this a generator, as a streaming handler must be

    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(refuse, **serializers)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(refuse_stream, **serializers)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(refuse, **serializers)
    return grpc.stream_stream_rpc_method_handler(refuse_stream, **serializers)
