"""REST routes of blocks and mutes: POST/DELETE /users/{id}/block|mute, GET /users/me/blocks|mutes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from shared.auth import CurrentUser
from shared.db.engine import SessionDep
from shared.http.problems import PROBLEM_RESPONSES, problem_responses
from shared.ratelimit import LimitedWriter
from users.models import Block, Mute, UserRelation
from users.relations import RelationService
from users.schemas import PageLimit, PageOffset, PublicUser, UserPage

router = APIRouter(responses=PROBLEM_RESPONSES, tags=["blocks and mutes"])
ADD_RESPONSES = problem_responses(
    **{"400": "yourself", "404": "no such user", "409": "already done", "429": "too many writes"}
)
REMOVE_RESPONSES = problem_responses(**{"404": "not blocked (or muted)", "429": "too many writes"})


async def _relations(session: SessionDep) -> RelationService:
    return RelationService(session)


Relations = Annotated[RelationService, Depends(_relations)]


async def _add(
    model: type[UserRelation], user_id: uuid.UUID, caller_id: uuid.UUID, relations: RelationService
) -> dict[str, str]:
    await relations.add(model, caller_id, user_id)
    return {"user_id": str(caller_id), "target_id": str(user_id)}


async def _page(
    model: type[UserRelation], caller_id: uuid.UUID, relations: RelationService, limit: int, offset: int
) -> UserPage:
    found, total = await relations.listed(model, caller_id, limit, offset)
    return UserPage.of(
        len(found), total, limit, offset, users=[PublicUser.model_validate(user) for user in found]
    )


@router.get("/users/me/blocks", response_model=UserPage)
async def list_blocks(
    caller: CurrentUser,
    relations: Relations,
    limit: Annotated[PageLimit, Query()] = 20,
    offset: Annotated[PageOffset, Query()] = 0,
) -> UserPage:
    """The accounts the caller blocks, most recent first."""
    return await _page(Block, caller.user_id, relations, limit, offset)


@router.get("/users/me/mutes", response_model=UserPage)
async def list_mutes(
    caller: CurrentUser,
    relations: Relations,
    limit: Annotated[PageLimit, Query()] = 20,
    offset: Annotated[PageOffset, Query()] = 0,
) -> UserPage:
    """The accounts the caller mutes, most recent first."""
    return await _page(Mute, caller.user_id, relations, limit, offset)


@router.post("/users/{user_id}/block", status_code=status.HTTP_201_CREATED, responses=ADD_RESPONSES)
async def block(user_id: uuid.UUID, caller: LimitedWriter, relations: Relations) -> dict[str, str]:
    """Block an account: follows both ways end; it cannot follow the caller or reply to, like or
    repost the caller's tweets; neither sees the other's tweets or reposts in feeds."""
    return await _add(Block, user_id, caller.user_id, relations)


@router.delete("/users/{user_id}/block", status_code=status.HTTP_204_NO_CONTENT, responses=REMOVE_RESPONSES)
async def unblock(user_id: uuid.UUID, caller: LimitedWriter, relations: Relations) -> Response:
    await relations.remove(Block, caller.user_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/users/{user_id}/mute", status_code=status.HTTP_201_CREATED, responses=ADD_RESPONSES)
async def mute(user_id: uuid.UUID, caller: LimitedWriter, relations: Relations) -> dict[str, str]:
    """Mute an account: its tweets and reposts stay out of the caller's feed; it is not told."""
    return await _add(Mute, user_id, caller.user_id, relations)


@router.delete("/users/{user_id}/mute", status_code=status.HTTP_204_NO_CONTENT, responses=REMOVE_RESPONSES)
async def unmute(user_id: uuid.UUID, caller: LimitedWriter, relations: Relations) -> Response:
    await relations.remove(Mute, caller.user_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
