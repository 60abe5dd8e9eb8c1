"""Single-use stream tickets: a browser's EventSource cannot send an Authorization header, and an
access token never goes into a URL. POST /stream/ticket (with the header) returns a random ticket
valid for a few seconds; GET /stream?ticket= redeems it once (GETDEL) for the token's claims."""

from __future__ import annotations

import hashlib
import secrets
import uuid

import orjson
from redis.asyncio import Redis

from shared.auth import TokenClaims
from shared.errors import Unauthorized
from shared.lifecycle import redis_outage

KEY_PREFIX = "stream-ticket:"
MAX_TICKET_LENGTH = 128


def _key(ticket: str) -> str:
    # Only a digest is stored: reading Redis does not hand out usable tickets.
    return KEY_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


class StreamTickets:
    def __init__(self, redis: Redis, lifetime_seconds: int) -> None:
        self._redis = redis
        self.lifetime_seconds = lifetime_seconds

    async def issue(self, claims: TokenClaims) -> str:
        ticket = secrets.token_urlsafe(32)
        value = orjson.dumps(
            {
                "user_id": str(claims.user_id),
                "username": claims.username,
                "exp": claims.expires_at,
                "iat": claims.issued_at,
                "jti": claims.jti,
            }
        )
        async with redis_outage():
            await self._redis.set(_key(ticket), value, ex=self.lifetime_seconds)
        return ticket

    async def redeem(self, ticket: str) -> TokenClaims:
        """The claims of the token the ticket was issued for; Unauthorized if unknown, used or expired."""
        if not ticket or len(ticket) > MAX_TICKET_LENGTH:
            raise Unauthorized("stream ticket is invalid")
        async with redis_outage():
            value = await self._redis.getdel(_key(ticket))
        if value is None:
            raise Unauthorized("stream ticket is invalid, used or expired")
        data = orjson.loads(value)
        return TokenClaims(
            user_id=uuid.UUID(data["user_id"]),
            username=data["username"],
            expires_at=float(data["exp"]),
            issued_at=float(data["iat"]),
            jti=data["jti"],
        )
