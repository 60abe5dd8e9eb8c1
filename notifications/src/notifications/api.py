"""REST routes of notifications: thin, they parse, call NotificationService and shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from notifications.deps import ServiceDep
from notifications.schemas import DEFAULT_LIMIT, MarkRead, NotificationPage, PageLimit, UnreadCount
from notifications.service import PageRequest, parse_types
from shared.auth import CurrentUser
from shared.http.problems import PROBLEM_RESPONSES

router = APIRouter(responses=PROBLEM_RESPONSES, tags=["notifications"])


@router.get("/notifications", response_model=NotificationPage)
async def list_notifications(
    user: CurrentUser,
    service: ServiceDep,
    limit: Annotated[PageLimit, Query()] = DEFAULT_LIMIT,
    before: Annotated[uuid.UUID | None, Query(description="next_cursor of the previous page")] = None,
    types: Annotated[
        str | None, Query(description="Comma-separated: follow,like,repost,reply,mention")
    ] = None,
) -> NotificationPage:
    """The caller's notifications, newest first."""
    return await service.page(PageRequest(user.user_id, limit, before, parse_types(types)))


@router.post("/notifications/read", status_code=204)
async def mark_read(user: CurrentUser, service: ServiceDep, body: MarkRead) -> Response:
    """Every notification of the caller up to `up_to_id` (inclusive) is read from now on."""
    await service.mark_read(user.user_id, body.up_to_id)
    return Response(status_code=204)


@router.get("/notifications/unread_count", response_model=UnreadCount)
async def unread_count(user: CurrentUser, service: ServiceDep) -> UnreadCount:
    return UnreadCount(unread_count=await service.unread_count(user.user_id))
