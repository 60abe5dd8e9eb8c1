"""The request-time state of a service that owns a database and writes through the outbox (users,
tweets): set up once in its lifespan, read by its routes and its /ready."""

from __future__ import annotations

from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.auth import TokenCodec
from shared.db.engine import ping
from shared.http.readiness import ReadinessCheck
from shared.lifecycle import redis_ping
from shared.messaging.publisher import RabbitPublisher
from shared.ratelimit import RateLimiter
from shared.settings import Settings


async def install_writer_state(
    app: FastAPI,
    settings: Settings,
    *,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    publisher: RabbitPublisher,
) -> None:
    """Sessions, token checks, rate limits and readiness (PostgreSQL, RabbitMQ, Redis) on app.state,
    and the RabbitMQ topology declared before the first event is published."""
    app.state.session_factory = sessions
    app.state.token_codec = TokenCodec(settings.jwt)
    app.state.rate_limiter = RateLimiter(settings.redis, settings.ratelimit)
    app.state.readiness = [
        ReadinessCheck("postgresql", lambda: ping(engine)),
        ReadinessCheck("rabbitmq", publisher.ping),
        ReadinessCheck("redis", lambda: redis_ping(redis)),
    ]
    await publisher.declare_topology_early()
