"""REST routes of the feed service: thin, they parse, call FeedService and shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from feed.deps import Feed
from feed.rendering import render_page
from feed.schemas import FeedResponse
from feed.service import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from shared.auth import CurrentUser
from shared.http.problems import PROBLEM_RESPONSES
from shared.paging import next_link

router = APIRouter(responses=PROBLEM_RESPONSES)


@router.get("/feed", response_model=FeedResponse, tags=["feed"])
async def get_feed(
    request: Request,
    caller: CurrentUser,
    feed: Feed,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    before: Annotated[
        uuid.UUID | None,
        Query(description="Only items strictly older than this cursor (a tweet id or `next_cursor`)"),
    ] = None,
    since_id: Annotated[uuid.UUID | None, Query(description="Only items newer than this tweet id")] = None,
) -> Response:
    """The caller's feed: their own tweets, those of everyone they follow and their reposts, newest
    first, each with its author, the caller's like/repost state and `reposted_by`."""
    # The caller is recorded as active (a returning account's feed is rebuilt first); in the body,
    # not as a dependency: a dependency level costs ~10 µs a request in FastAPI's solver (measured).
    await feed.seen(caller.user_id)
    page = await feed.page(caller.user_id, limit, offset, before, since_id)
    body = render_page(page.tweets, page.total, page.limit, page.offset, page.has_more, page.next_cursor)
    headers = {}
    if page.next_cursor is not None:
        headers["Link"] = next_link(request.scope, limit, page.next_cursor)
    return Response(body, media_type="application/json", headers=headers)
