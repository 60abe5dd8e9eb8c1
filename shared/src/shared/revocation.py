"""Token revocation, shared by every service through Redis and checked against an in-process copy.

Redis holds one sorted set, `auth:revocations`. Its members are
- `jti:<jti>:<exp>`: one token (logout), refused until it expires anyway;
- `user:<user_id>:<valid_after>`: every token of that user issued before `valid_after` (a password
  change, a deleted account).
An entry's score is the Redis server time (µs) when a script added it, so scores grow in the order
entries are added. Entries older than the token lifetime concern expired tokens only: each addition
trims them.

Every process keeps a copy: loaded at start, then every `poll_seconds` it reads the entries scored
at or after the last one seen (one small query a second, whatever the request rate). A request
checks only the copy, so the hot path makes no network round trip. Bounded staleness: a revocation
made by another process is applied here within `poll_seconds` plus one query, at most ~2 s with the
default 1 s; the process that revokes applies it to its own copy at once.

While Redis is unreachable the copy stays as last read (tokens are still checked against it);
revoking needs Redis, so logout, password change and account deletion answer 503 meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.lifecycle import background, every, redis_outage

logger = logging.getLogger(__name__)
KEY = "auth:revocations"
POLL_SECONDS = 1.0
# The longest a process may still accept a revoked token (one poll plus a slow query).
MAX_STALENESS_SECONDS = 2.0

# KEYS[1] the set; ARGV[1] the member, ARGV[2] the token lifetime in seconds.
_ADD = """
local now = redis.call('TIME')
local score = tonumber(now[1]) * 1000000 + tonumber(now[2])
redis.call('ZADD', KEYS[1], score, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', score - tonumber(ARGV[2]) * 1000000)
return tostring(score)
"""


class Revocations:
    def __init__(self, redis: Redis, lifetime_seconds: int, poll_seconds: float = POLL_SECONDS) -> None:
        self._redis = redis
        self._lifetime = lifetime_seconds
        self.poll_seconds = poll_seconds
        self._add = redis.register_script(_ADD)
        self._revoked: dict[str, float] = {}  # jti -> its expiry
        self._valid_after: dict[uuid.UUID, float] = {}
        self._cursor: float | None = None  # score of the newest entry read

    def is_revoked(self, user_id: uuid.UUID, jti: str, issued_at: float) -> bool:
        if jti in self._revoked:
            return True
        after = self._valid_after.get(user_id)
        return after is not None and issued_at < after

    async def revoke_token(self, jti: str, expires_at: float) -> None:
        await self._store(f"jti:{jti}:{expires_at}")

    async def revoke_user(self, user_id: uuid.UUID) -> None:
        """Refuse every token of the user issued until now (ms, the precision of `iat`)."""
        await self._store(f"user:{user_id}:{round(time.time(), 3)}")

    async def _store(self, member: str) -> None:
        async with redis_outage():
            await self._add(keys=[KEY], args=[member, self._lifetime])
        self._apply(member)

    async def refresh(self) -> None:
        """Read the entries added since the last read (all of them the first time)."""
        low: float | str = "-inf" if self._cursor is None else self._cursor
        entries = await self._redis.zrangebyscore(KEY, low, "+inf", withscores=True)
        for entry in entries:
            member, score = str(entry[0]), float(entry[1])
            self._apply(member)
            self._cursor = max(self._cursor or score, score)
        self._forget_expired()

    async def run(self, stop: asyncio.Event) -> None:
        await every(
            self.poll_seconds, stop, self.refresh, "revocation state not refreshed; using the last copy"
        )

    def _apply(self, member: str) -> None:
        kind, subject, value = member.split(":", 2)
        try:
            if kind == "jti":
                self._revoked[subject] = float(value)
            elif kind == "user":
                user_id = uuid.UUID(subject)
                self._valid_after[user_id] = max(self._valid_after.get(user_id, 0.0), float(value))
        except ValueError:
            logger.warning("ignoring a malformed revocation entry %r", member)

    def _forget_expired(self) -> None:
        now = time.time()
        self._revoked = {jti: exp for jti, exp in self._revoked.items() if exp > now}
        oldest = now - self._lifetime
        self._valid_after = {user: at for user, at in self._valid_after.items() if at > oldest}


@contextlib.asynccontextmanager
async def revocation_state(redis: Redis, lifetime_seconds: int) -> AsyncIterator[Revocations]:
    """The process's copy, loaded before it is yielded and refreshed in the background meanwhile."""
    revocations = Revocations(redis, lifetime_seconds)
    try:
        await revocations.refresh()
    except (RedisError, OSError) as exc:
        logger.warning("revocation state not loaded at start-up (%s); retrying in the background", exc)
    async with background("revocations", revocations.run):
        yield revocations
