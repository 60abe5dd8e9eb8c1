"""REST routes of the search service: thin, they parse, call SearchService and shape the answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from search.deps import Searcher
from search.schemas import (
    DEFAULT_LIMIT,
    PageLimit,
    PageOffset,
    QueryText,
    SearchPage,
    SearchResult,
    Trend,
    TrendLimit,
    TrendsResponse,
    UserQueryText,
    UserResult,
    UserSearchPage,
)
from search.service import SearchRequest
from shared.http.problems import PROBLEM_RESPONSES, problem_responses
from shared.ratelimit import per_address

router = APIRouter(responses=PROBLEM_RESPONSES)
_limited = [Depends(per_address("search", lambda limits: limits.search_per_minute))]
_LIMITED = problem_responses(**{"429": "too many searches from this address"})


@router.get(
    "/search/users", response_model=UserSearchPage, tags=["search"], dependencies=_limited, responses=_LIMITED
)
async def search_users(
    searcher: Searcher,
    q: Annotated[UserQueryText, Query(description="The start of a username or of a display name word.")],
    limit: Annotated[PageLimit, Query()] = DEFAULT_LIMIT,
) -> UserSearchPage:
    """Accounts by username or display name prefix (one typo tolerated), most followed first."""
    hits, total = await searcher.search_users(q, limit)
    return UserSearchPage.of(
        len(hits), total, limit, 0, results=[UserResult.model_validate(hit) for hit in hits]
    )


@router.get(
    "/trends", response_model=TrendsResponse, tags=["search"], dependencies=_limited, responses=_LIMITED
)
async def trends(
    searcher: Searcher,
    window: Annotated[Literal["1h", "24h"], Query()] = "1h",
    limit: Annotated[TrendLimit, Query()] = 10,
) -> TrendsResponse:
    """Hashtags by the number of distinct authors that used them in the window."""
    ranked = await searcher.trends(window, limit)
    return TrendsResponse(trends=[Trend(hashtag=tag, count=count) for tag, count in ranked])


@router.get(
    "/search",
    response_model=SearchPage,
    tags=["search"],
    dependencies=_limited,
    responses=_LIMITED,
)
async def search(
    searcher: Searcher,
    q: Annotated[QueryText, Query(description='Words to find; "a phrase", -word and `or` work.')],
    limit: Annotated[PageLimit, Query()] = DEFAULT_LIMIT,
    offset: Annotated[PageOffset, Query()] = 0,
    user_id: Annotated[uuid.UUID | None, Query(description="Only this author's tweets.")] = None,
    since: Annotated[datetime | None, Query(description="Created at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Created before (ISO 8601).")] = None,
) -> SearchPage:
    """Tweets matching `q`, best match first (then newest first)."""
    hits, total = await searcher.search(SearchRequest(q, limit, offset, user_id, since, until))
    return SearchPage.of(
        len(hits), total, limit, offset, results=[SearchResult.model_validate(hit) for hit in hits]
    )
