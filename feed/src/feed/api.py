"""REST routes of the feed service: thin, they parse, call FeedService and shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from feed.deps import Feed
from feed.rendering import render_page
from feed.schemas import FeedResponse
from feed.service import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from shared.auth import CurrentUser
from shared.http.problems import PROBLEM_RESPONSES

router = APIRouter(responses=PROBLEM_RESPONSES)


@router.get("/feed", response_model=FeedResponse, tags=["feed"])
async def get_feed(
    caller: CurrentUser,
    feed: Feed,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    before: Annotated[
        uuid.UUID | None, Query(description="Only tweets strictly older than this tweet id (stable paging)")
    ] = None,
) -> Response:
    """The caller's feed: their own tweets and those of everyone they follow, newest first."""
    page = await feed.page(caller.user_id, limit, offset, before)
    body = render_page(page.tweets, page.total, page.limit, page.offset, page.has_more, page.next_cursor)
    return Response(body, media_type="application/json")
