"""What the users routes get from the lifespan's wiring, as typed dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from shared.db.engine import SessionDep
from shared.revocation import Revocations
from shared.wiring import Writing, wiring_of
from users.service import UserService


@dataclass(kw_only=True)
class UsersWiring(Writing):
    """Everything the users process builds in its lifespan for its routes and /ready."""


async def _wiring(request: Request) -> UsersWiring:
    return wiring_of(request.app, UsersWiring)


Wired = Annotated[UsersWiring, Depends(_wiring)]


async def _service(wiring: Wired, session: SessionDep) -> UserService:
    return UserService(session, wiring.token_codec)


Users = Annotated[UserService, Depends(_service)]


async def _revocations(wiring: Wired) -> Revocations:
    return wiring.revocations


Revoker = Annotated[Revocations, Depends(_revocations)]
"""The shared revocation state, for the routes that revoke tokens (logout, password, deletion)."""
