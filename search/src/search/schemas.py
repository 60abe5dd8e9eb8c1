"""Response bodies and query parameter types of the search REST API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from search.backends.base import MAX_QUERY_LENGTH, MAX_USER_QUERY_LENGTH
from shared.paging import Page

# Both backends page the same way; Elasticsearch answers at most 10 000 hits per query.
MAX_LIMIT = 100
MAX_OFFSET = 10_000 - MAX_LIMIT
DEFAULT_LIMIT = 20

QueryText = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_LENGTH)]
PageLimit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]
PageOffset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]


class SearchResult(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    user_id: uuid.UUID
    content: str
    created_at: datetime
    score: float


class SearchPage(Page):
    results: list[SearchResult]


UserQueryText = Annotated[str, Field(min_length=1, max_length=MAX_USER_QUERY_LENGTH)]
TrendLimit = Annotated[int, Field(ge=1, le=50)]


class UserResult(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    username: str
    display_name: str
    num_followers: int


class UserSearchPage(Page):
    """Best matches only (no offset): `has_more` says more accounts matched than `limit`."""

    results: list[UserResult]


class Trend(BaseModel):
    hashtag: str
    count: int


class TrendsResponse(BaseModel):
    trends: list[Trend]
