"""REST routes of the users service: thin, they parse, call UserService and shape the answer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from shared.auth import CurrentUser
from shared.http.problems import PROBLEM_RESPONSES, problem_responses
from shared.ratelimit import LimitedWriter, Limiter, per_address
from shared.text import login_key
from users.deps import Revoker, Users
from users.models import User
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

router = APIRouter(responses=PROBLEM_RESPONSES)
UNKNOWN_USER = problem_responses(**{"404": "no such user"})


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(per_address("register", lambda limits: limits.register_per_minute))],
    response_model=OwnUser,
    tags=["auth"],
    responses=problem_responses(**{"409": "email or username taken", "429": "too many registrations"}),
)
async def register(body: RegisterRequest, users: Users) -> OwnUser:
    user = await users.register(body.email, body.username, body.password)
    return OwnUser.model_validate(user)


@router.post(
    "/login",
    response_model=LoginResponse,
    tags=["auth"],
    responses=problem_responses(
        **{"429": "too many login attempts", "503": "the rate limiter is unavailable"}
    ),
)
async def login(
    body: LoginRequest, request: Request, response: Response, users: Users, limiter: Limiter
) -> LoginResponse:
    """Attempts are limited per client address and per (identifier, address): a third party
    trying passwords from elsewhere cannot lock the owner out. The identifier is counted as typed
    (folded), never as the account it names, so the limited-or-not answer says nothing about
    which email and which username belong together, or whether an account exists. Fails closed
    (503) when the limiter's store is down."""
    # The answer holds a bearer token: no cache (browser, proxy) may keep it.
    response.headers["Cache-Control"] = "no-store"
    limits = limiter.settings
    address = limiter.client_address(request)
    account = f"{login_key(body.identifier)}|{address}"
    await limiter.hit("login-address", address, limits.login_address_per_minute, fail_closed=True)
    await limiter.hit("login-account", account, limits.login_per_minute, fail_closed=True)
    result = await users.login(body.identifier, body.password)
    return LoginResponse(
        access_token=result.token,
        expires_in=result.expires_in,
        user=OwnUser.model_validate(result.user),
        token=result.token,
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["auth"],
    responses=problem_responses(**{"503": "the revocation store is unavailable"}),
)
async def logout(caller: CurrentUser, revocations: Revoker) -> Response:
    """Revoke the token of this request, in every service (within ~2 s, at once in this one)."""
    await revocations.revoke_token(caller.jti, caller.expires_at)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/users/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["users"],
    responses=problem_responses(**{"403": "the current password is wrong"}),
)
async def change_password(
    body: ChangePasswordRequest, caller: CurrentUser, revocations: Revoker, users: Users
) -> Response:
    """Set a new password; every token issued before (this one too) stops working."""
    await users.change_password(caller.user_id, body.current_password, body.new_password, revocations)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/users/me",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["users"],
    responses=problem_responses(**{"403": "the password is wrong"}),
)
async def delete_me(
    body: DeleteAccountRequest, caller: CurrentUser, revocations: Revoker, users: Users
) -> Response:
    """Delete the account: its follows at once, its tweets, likes and reposts shortly after
    (through the `user.delete` event); its tokens stop working."""
    await users.delete_account(caller.user_id, body.password, revocations)
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
async def follow(user_id: uuid.UUID, caller: LimitedWriter, users: Users) -> dict[str, str]:
    await users.follow(caller.user_id, user_id)
    return {"follower_id": str(caller.user_id), "following_id": str(user_id)}


@router.delete(
    "/users/{user_id}/follow",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["follows"],
    responses=problem_responses(**{"404": "not following this user", "429": "too many writes"}),
)
async def unfollow(user_id: uuid.UUID, caller: LimitedWriter, users: Users) -> Response:
    await users.unfollow(caller.user_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users/{user_id}/followers", response_model=UserPage, tags=["follows"], responses=UNKNOWN_USER)
async def followers(
    user_id: uuid.UUID,
    users: Users,
    limit: Annotated[PageLimit, Query()] = 20,
    offset: Annotated[PageOffset, Query()] = 0,
) -> UserPage:
    found, total = await users.followers(user_id, limit, offset)
    return _page(found, total, limit, offset)


@router.get("/users/{user_id}/following", response_model=UserPage, tags=["follows"], responses=UNKNOWN_USER)
async def following(
    user_id: uuid.UUID,
    users: Users,
    limit: Annotated[PageLimit, Query()] = 20,
    offset: Annotated[PageOffset, Query()] = 0,
) -> UserPage:
    found, total = await users.following(user_id, limit, offset)
    return _page(found, total, limit, offset)


def _page(found: Sequence[User], total: int, limit: int, offset: int) -> UserPage:
    return UserPage.of(
        len(found), total, limit, offset, users=[PublicUser.model_validate(user) for user in found]
    )
