"""REST routes of the users service: thin, they parse, call UserService and shape the answer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from shared.auth import CurrentUser, TokenCodec
from shared.db.engine import SessionDep
from shared.http.problems import PROBLEM_RESPONSES, problem_responses
from shared.ratelimit import RateLimiter
from shared.revocation import Revocations
from shared.settings import RateLimitSettings
from users.models import Actor
from users.schemas import (
    ChangePasswordRequest,
    DeleteAccountRequest,
    LoginRequest,
    LoginResponse,
    OwnUser,
    PageLimit,
    PageOffset,
    PublicUser,
    RegisterRequest,
    UpdateProfileRequest,
    UserPage,
)
from users.service import UserService

router = APIRouter(responses=PROBLEM_RESPONSES)
UNKNOWN_USER = problem_responses(**{"404": "no such user"})


async def _service(request: Request, session: SessionDep) -> UserService:
    codec: TokenCodec = request.app.state.token_codec
    return UserService(session, codec)


Users = Annotated[UserService, Depends(_service)]


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _limit(request: Request, scope: str, subject: str, per_minute: int) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.hit(scope, subject, per_minute)


def _limits(request: Request) -> RateLimitSettings:
    limits: RateLimitSettings = request.app.state.rate_limits
    return limits


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=OwnUser,
    tags=["auth"],
    responses=problem_responses(**{"409": "email or username taken", "429": "too many registrations"}),
)
async def register(body: RegisterRequest, request: Request, users: Users) -> OwnUser:
    await _limit(request, "register", _client_ip(request), _limits(request).register_per_minute)
    actor = await users.register(body.email, body.username, body.password)
    return OwnUser.model_validate(actor)


@router.post(
    "/login",
    response_model=LoginResponse,
    tags=["auth"],
    responses=problem_responses(**{"429": "too many login attempts"}),
)
async def login(body: LoginRequest, request: Request, users: Users) -> LoginResponse:
    limits = _limits(request)
    # Per IP and per account: a distributed brute force against one account is stopped too.
    await _limit(request, "login-ip", _client_ip(request), limits.login_per_minute)

    async def limit_account(account_key: str) -> None:
        await _limit(request, "login-account", account_key, limits.login_per_minute)

    result = await users.login(body.identifier, body.password, before_verify=limit_account)
    return LoginResponse(
        access_token=result.token, expires_in=result.expires_in, user=OwnUser.model_validate(result.actor)
    )


def _revocations(request: Request) -> Revocations:
    revocations: Revocations = request.app.state.revocations
    return revocations


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["auth"],
    responses=problem_responses(**{"503": "the revocation store is unavailable"}),
)
async def logout(caller: CurrentUser, request: Request) -> Response:
    """Revoke the token of this request, in every service (within ~2 s, at once in this one)."""
    await _revocations(request).revoke_token(caller.jti, caller.expires_at)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/users/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["users"],
    responses=problem_responses(**{"403": "the current password is wrong"}),
)
async def change_password(
    body: ChangePasswordRequest, caller: CurrentUser, request: Request, users: Users
) -> Response:
    """Set a new password; every token issued before (this one too) stops working."""
    await users.change_password(
        caller.user_id, body.current_password, body.new_password, _revocations(request)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/users/me",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["users"],
    responses=problem_responses(**{"403": "the password is wrong"}),
)
async def delete_me(
    body: DeleteAccountRequest, caller: CurrentUser, request: Request, users: Users
) -> Response:
    """Delete the account: its follows at once, its tweets, likes and reposts shortly after
    (through the `user.delete` event); its tokens stop working."""
    await users.delete_account(caller.user_id, body.password, _revocations(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/users/by-username/{username}", response_model=PublicUser, tags=["users"], responses=UNKNOWN_USER
)
async def get_user_by_username(username: Annotated[str, Path(max_length=32)], users: Users) -> PublicUser:
    return PublicUser.model_validate(await users.by_username(username))


@router.get("/users/me", response_model=OwnUser, tags=["users"], responses=UNKNOWN_USER)
async def get_me(caller: CurrentUser, users: Users) -> OwnUser:
    return OwnUser.model_validate(await users.get(caller.user_id))


@router.patch("/users/me", response_model=OwnUser, tags=["users"], responses=UNKNOWN_USER)
async def update_me(body: UpdateProfileRequest, caller: CurrentUser, users: Users) -> OwnUser:
    changes = body.model_dump(exclude_none=True)
    return OwnUser.model_validate(await users.update_profile(caller.user_id, changes))


@router.get("/users/{user_id}", response_model=PublicUser, tags=["users"], responses=UNKNOWN_USER)
async def get_user(user_id: uuid.UUID, users: Users) -> PublicUser:
    return PublicUser.model_validate(await users.get(user_id))


@router.post(
    "/users/{user_id}/follow",
    status_code=status.HTTP_201_CREATED,
    tags=["follows"],
    responses=problem_responses(
        **{
            "400": "you cannot follow yourself",
            "404": "no such user",
            "409": "already following",
            "429": "too many writes",
        }
    ),
)
async def follow(user_id: uuid.UUID, caller: CurrentUser, request: Request, users: Users) -> dict[str, str]:
    await _limit(request, "writes", str(caller.user_id), _limits(request).writes_per_minute)
    await users.follow(caller.user_id, user_id)
    return {"follower_id": str(caller.user_id), "following_id": str(user_id)}


@router.delete(
    "/users/{user_id}/follow",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["follows"],
    responses=problem_responses(**{"404": "not following this user", "429": "too many writes"}),
)
async def unfollow(user_id: uuid.UUID, caller: CurrentUser, request: Request, users: Users) -> Response:
    await _limit(request, "writes", str(caller.user_id), _limits(request).writes_per_minute)
    await users.unfollow(caller.user_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users/{user_id}/followers", response_model=UserPage, tags=["follows"], responses=UNKNOWN_USER)
async def followers(
    user_id: uuid.UUID,
    users: Users,
    limit: Annotated[PageLimit, Query()] = 20,
    offset: Annotated[PageOffset, Query()] = 0,
) -> UserPage:
    actors, total = await users.followers(user_id, limit, offset)
    return _page(actors, total, limit, offset)


@router.get("/users/{user_id}/following", response_model=UserPage, tags=["follows"], responses=UNKNOWN_USER)
async def following(
    user_id: uuid.UUID,
    users: Users,
    limit: Annotated[PageLimit, Query()] = 20,
    offset: Annotated[PageOffset, Query()] = 0,
) -> UserPage:
    actors, total = await users.following(user_id, limit, offset)
    return _page(actors, total, limit, offset)


def _page(actors: Sequence[Actor], total: int, limit: int, offset: int) -> UserPage:
    return UserPage(
        users=[PublicUser.model_validate(actor) for actor in actors],
        total=total,
        limit=limit,
        offset=offset,
        has_more=offset + len(actors) < total,
    )
