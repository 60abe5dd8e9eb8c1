"""gRPC status codes from another service become domain errors by meaning (issue 15)."""

from __future__ import annotations

import grpc
import pytest

from shared.errors import (
    DependencyFailed,
    DependencyUnavailable,
    InvalidInput,
    NotFound,
    Overloaded,
    from_grpc_error,
    is_transient,
)


@pytest.mark.parametrize(
    ("code", "kind", "transient"),
    [
        (grpc.StatusCode.UNAVAILABLE, DependencyUnavailable, True),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, Overloaded, True),
        (grpc.StatusCode.DEADLINE_EXCEEDED, Overloaded, True),
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidInput, False),
        (grpc.StatusCode.NOT_FOUND, NotFound, False),
        (grpc.StatusCode.INTERNAL, DependencyFailed, False),
    ],
)
def test_a_peers_status_code_maps_to_its_meaning(
    code: grpc.StatusCode, kind: type[Exception], transient: bool
) -> None:
    error = from_grpc_error(code, "details", "tweets")
    assert type(error) is kind
    assert is_transient(error) is transient


def test_a_slow_peer_is_said_as_overload_with_a_retry_hint() -> None:
    error = from_grpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, None, "tweets")
    assert isinstance(error, Overloaded) and error.http_status == 503 and error.retry_after_seconds >= 1
    assert "tweets" in error.detail
