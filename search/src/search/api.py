"""REST routes of the search service: thin, they parse, call SearchService and shape the answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from search.deps import Searcher
from search.schemas import DEFAULT_LIMIT, PageLimit, PageOffset, QueryText, SearchPage, SearchResult
from search.service import SearchRequest
from shared.http.problems import PROBLEM_RESPONSES, problem_responses
from shared.ratelimit import per_address

router = APIRouter(responses=PROBLEM_RESPONSES)


@router.get(
    "/search",
    response_model=SearchPage,
    tags=["search"],
    dependencies=[Depends(per_address("search", lambda limits: limits.search_per_minute))],
    responses=problem_responses(**{"429": "too many searches from this address"}),
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
