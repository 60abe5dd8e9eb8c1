"""Readiness of a service that owns a database and writes through the outbox (users, tweets)."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.engine import ping
from shared.http.readiness import ReadinessCheck
from shared.lifecycle import redis_ping
from shared.messaging.publisher import RabbitPublisher


def writer_readiness(engine: AsyncEngine, publisher: RabbitPublisher, redis: Redis) -> list[ReadinessCheck]:
    """/ready of a writer: PostgreSQL, RabbitMQ and Redis."""
    return [
        ReadinessCheck("postgresql", lambda: ping(engine)),
        ReadinessCheck("rabbitmq", publisher.ping),
        ReadinessCheck("redis", lambda: redis_ping(redis)),
    ]
