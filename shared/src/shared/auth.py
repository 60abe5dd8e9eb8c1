"""JWT access tokens (HS256 by default, algorithms fixed) and the FastAPI dependency that checks them."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.errors import Unauthorized
from shared.settings import JWTSettings

REQUIRED_CLAIMS = ("user_id", "username", "exp", "iat")


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    username: str
    expires_at: int


class TokenCodec:
    """Issues and verifies access tokens with one fixed algorithm (never the token's own `alg`)."""

    def __init__(self, settings: JWTSettings) -> None:
        self._secret = settings.secret.get_secret_value()
        self._algorithm = settings.algorithm
        self.lifetime_seconds = settings.lifetime_seconds

    def issue(self, user_id: uuid.UUID, username: str) -> str:
        now = int(time.time())
        payload = {
            "user_id": str(user_id),
            "username": username,
            "iat": now,
            "exp": now + self.lifetime_seconds,
        }
        return jwt.encode(payload, self._secret, algorithm=self._algorithm)

    def verify(self, token: str) -> TokenClaims:
        try:
            payload = jwt.decode(
                token, self._secret, algorithms=[self._algorithm], options={"require": list(REQUIRED_CLAIMS)}
            )
            return TokenClaims(
                user_id=uuid.UUID(str(payload["user_id"])),
                username=str(payload["username"]),
                expires_at=int(payload["exp"]),
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token has expired") from exc
        except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
            raise Unauthorized("token is invalid") from exc


_bearer = HTTPBearer(auto_error=False, description="JWT from POST /login")


def _codec(request: Request) -> TokenCodec:
    codec: TokenCodec = request.app.state.token_codec
    return codec


async def current_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenClaims:
    """The verified claims of the caller's bearer token; 401 problem+json otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    return _codec(request).verify(credentials.credentials)


CurrentUser = Annotated[TokenClaims, Depends(current_claims)]
