"""Typed wiring: what a service builds once in its lifespan, handed to its routes by typed dependencies.

A service's lifespan builds ONE dataclass (its own subclass of the parts below that it needs),
stores it with `install(app, wiring)`, and its routes get what they need through `Annotated`
dependencies: the service's own in its `deps.py`, the shared ones in shared.auth (CurrentUser),
shared.db.engine (SessionDep, ReadSessionDep, on a Storing wiring) and shared.ratelimit (Limiter, LimitedWriter).
`wiring_of(app, kind)` is the only reader of the stored object, and checks its type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from starlette.applications import Starlette

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from shared.auth import TokenCodec
    from shared.http.readiness import BackgroundState, ReadinessCheck
    from shared.ratelimit import RateLimiter
    from shared.revocation import Revocations


@dataclass(kw_only=True)
class Wiring:
    """What /ready reports: the probes of the service's dependencies and its background tasks."""

    readiness: list[ReadinessCheck] = field(default_factory=list)
    background: dict[str, BackgroundState] = field(default_factory=dict)


@dataclass(kw_only=True)
class Authenticating(Wiring):
    """A service with bearer-token routes (CurrentUser)."""

    token_codec: TokenCodec
    revocations: Revocations


@dataclass(kw_only=True)
class Limiting(Wiring):
    """A service with rate-limited routes."""

    rate_limiter: RateLimiter


@dataclass(kw_only=True)
class Storing(Wiring):
    """A service that owns a database: transactional and autocommit read sessions (SessionDep,
    ReadSessionDep)."""

    sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]


@dataclass(kw_only=True)
class Writing(Authenticating, Limiting, Storing):
    """A service that owns a database and takes rate-limited writes from its users (users, tweets)."""


W = TypeVar("W", bound=Wiring)


def install(app: Starlette, wiring: Wiring) -> None:
    """Store the service's wiring (once per lifespan; create_app stores an empty one before)."""
    app.state.wiring = wiring


def wiring_of(app: Starlette, kind: type[W]) -> W:
    """The stored wiring, as the part `kind` that the caller needs."""
    wiring = app.state.wiring
    if not isinstance(wiring, kind):
        raise TypeError(f"{type(wiring).__name__} is not {kind.__name__}: the lifespan has not wired it")
    return wiring
