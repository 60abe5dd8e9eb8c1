"""Search logic shared by REST and gRPC: validate the request, ask the backend."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from search.backends.base import TREND_WINDOWS, SearchBackend, SearchHit, UserHit, as_utc, parse_query
from search.schemas import MAX_LIMIT, MAX_OFFSET
from shared.errors import InvalidInput
from shared.text import storable_text


@dataclass(frozen=True)
class SearchRequest:
    query: str
    limit: int
    offset: int
    user_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


class SearchService:
    def __init__(self, backend: SearchBackend) -> None:
        self.backend = backend

    async def search(self, request: SearchRequest) -> tuple[list[SearchHit], int]:
        """One page of matches and their total; InvalidInput (422) for a request that cannot match."""
        query = parse_query(request.query)
        if not 1 <= request.limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
        if not 0 <= request.offset <= MAX_OFFSET:
            raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}", field="offset")
        since, until = request.since, request.until
        if since is not None and until is not None and _instant(since) >= _instant(until):
            raise InvalidInput("since must be earlier than until", field="since")
        return await self.backend.search(
            query.words,
            hashtags=query.hashtags,
            mentions=query.mentions,
            user_id=request.user_id,
            since=since,
            until=until,
            limit=request.limit,
            offset=request.offset,
        )

    async def search_users(self, query: str, limit: int) -> tuple[list[UserHit], int]:
        """Accounts matching `query` by prefix (or one edit away), most followed first."""
        if not query.strip():
            raise InvalidInput("q must not be blank", field="q")
        try:
            storable_text(query)  # a NUL would reach PostgreSQL's text and fail there: a 500
        except ValueError as exc:
            raise InvalidInput(str(exc), field="q") from exc
        return await self.backend.search_users(query, limit)

    async def trends(self, window: str, limit: int) -> list[tuple[str, int]]:
        """The hashtags with the most distinct authors among the live tweets of `window`."""
        if window not in TREND_WINDOWS:
            raise InvalidInput(f"window must be one of {', '.join(TREND_WINDOWS)}", field="window")
        return await self.backend.trends(TREND_WINDOWS[window], limit)


def _instant(moment: datetime) -> timedelta:
    """A point in time as a number, for any datetime (0001-01-01T00:00+05:00 has no UTC datetime)."""
    aware = as_utc(moment)
    return (aware.replace(tzinfo=None) - datetime.min) - (aware.utcoffset() or timedelta(0))
