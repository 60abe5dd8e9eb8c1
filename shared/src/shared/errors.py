"""One domain exception hierarchy, mapped once per transport (HTTP status and gRPC status code)."""

from __future__ import annotations

from typing import Any, ClassVar

import grpc


class DomainError(Exception):
    """Base of every error a client may see. Subclasses fix the status on each transport."""

    http_status: ClassVar[int] = 500
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    title: ClassVar[str] = "Internal error"
    type_slug: ClassVar[str] = "internal-error"
    # Whether trying again later may succeed (a dependency was down), rather than the request
    # itself being at fault: only transient failures are retried by the relay and the consumers.
    transient: ClassVar[bool] = False

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(DomainError):
    http_status = 422
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    title = "Invalid input"
    type_slug = "invalid-input"


class BadRequest(DomainError):
    http_status = 400
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    title = "Bad request"
    type_slug = "bad-request"


class Unauthorized(DomainError):
    http_status = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    title = "Unauthorized"
    type_slug = "unauthorized"


class Forbidden(DomainError):
    http_status = 403
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    title = "Forbidden"
    type_slug = "forbidden"


class NotFound(DomainError):
    http_status = 404
    grpc_code = grpc.StatusCode.NOT_FOUND
    title = "Not found"
    type_slug = "not-found"


class Conflict(DomainError):
    http_status = 409
    grpc_code = grpc.StatusCode.ALREADY_EXISTS
    title = "Conflict"
    type_slug = "conflict"


class RateLimited(DomainError):
    http_status = 429
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    title = "Too many requests"
    type_slug = "rate-limited"

    def __init__(self, detail: str, retry_after_seconds: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after_seconds = retry_after_seconds


class DependencyUnavailable(DomainError):
    """A dependency (database, Redis, broker, another service) did not answer in time."""

    http_status = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE
    title = "Service unavailable"
    type_slug = "dependency-unavailable"
    transient = True


class DependencyFailed(DomainError):
    """A dependency answered, with an error that says nothing about the caller's request and that
    trying again will not cure (its bug, a method it lacks): a 500, never retried."""


# The only gRPC codes that say "try again later"; every other code is the dependency's verdict on
# the request (or its own fault) and maps to the domain error of the same meaning.
TRANSIENT_GRPC_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)


class Overloaded(DependencyUnavailable):
    """This process is at capacity (a full connection pool, too many requests): the request is shed
    so the others finish. Not an outage, but transient like one: consumers and relays that retry a
    DependencyUnavailable retry this too; clients are told to retry after `retry_after_seconds`."""

    http_status = 503
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    title = "Overloaded"
    type_slug = "overloaded"

    def __init__(self, detail: str, retry_after_seconds: int = 1, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after_seconds = retry_after_seconds


_BY_GRPC_CODE: dict[grpc.StatusCode, type[DomainError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInput,
    grpc.StatusCode.FAILED_PRECONDITION: BadRequest,
    grpc.StatusCode.UNAUTHENTICATED: Unauthorized,
    grpc.StatusCode.PERMISSION_DENIED: Forbidden,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: Conflict,
    grpc.StatusCode.OUT_OF_RANGE: InvalidInput,
}


def from_grpc_error(code: grpc.StatusCode, details: str | None, service: str) -> DomainError:
    """The domain error a failed gRPC call to `service` stands for."""
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return Overloaded(f"{service} is overloaded", dependency=service)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        # It answers, too slowly: past saturation this is load, so the caller sheds the request
        # with Retry-After (the bench's overload figure saw these as "unavailable" before). A peer
        # that is down fails fast as UNAVAILABLE instead.
        return Overloaded(f"{service} did not answer in time ({code.name})", dependency=service)
    if code in TRANSIENT_GRPC_CODES:
        return DependencyUnavailable(f"{service} is unavailable ({code.name})", dependency=service)
    error_cls = _BY_GRPC_CODE.get(code)
    if error_cls is None:
        # INTERNAL, UNKNOWN, UNIMPLEMENTED, DATA_LOSS, ABORTED, CANCELLED: the dependency failed.
        return DependencyFailed(f"{service} failed ({code.name})", dependency=service)
    return error_cls(details or code.name)


def is_transient(exc: BaseException) -> bool:
    """A failure of a dependency (down, slow, overloaded) rather than of the request or message:
    the only kind worth retrying unchanged."""
    if isinstance(exc, DomainError):
        return exc.transient
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        return True
    try:
        import redis.exceptions

        if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
            return True
    except ImportError:  # pragma: no cover
        pass
    try:
        import aiormq.exceptions

        # The broker's connection or channel went (publishing while RabbitMQ restarts).
        if isinstance(exc, aiormq.exceptions.AMQPError):
            return True
    except ImportError:  # pragma: no cover
        pass
    return False
