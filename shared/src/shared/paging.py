"""The one paging shape of every list response: total, limit, offset, has_more and next_cursor.

Each list response subclasses `Page` and adds its items under the name its clients already read
(`users`, `tweets`, `replies`, `likes`, `reposts`, `results`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any, Self
from urllib.parse import quote

from pydantic import BaseModel, Field

PageLimit = Annotated[int, Field(ge=1, le=100)]
PageOffset = Annotated[int, Field(ge=0, le=1_000_000)]


class Page(BaseModel):
    total: int
    limit: int
    offset: int
    has_more: bool
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `before` for the next page (lists newest first by id); null on the last "
        "page and on lists paged by offset only.",
    )

    @classmethod
    def of(
        cls,
        count: int,
        total: int,
        limit: int,
        offset: int,
        last_id: uuid.UUID | None = None,
        **items: Any,
    ) -> Self:
        """A page of `count` items (given by name in `items`); `last_id` (the last item's id, for
        lists that page by `before`) becomes `next_cursor` while there is more."""
        has_more = offset + count < total
        return cls(
            total=total,
            limit=limit,
            offset=offset,
            has_more=has_more,
            next_cursor=next_cursor(has_more, last_id),
            **items,
        )


def next_cursor(has_more: bool, last_id: str | uuid.UUID | None) -> str | None:
    """`next_cursor` of a page whose `has_more` is known (the feed counts entries, not items)."""
    return str(last_id) if has_more and last_id is not None else None


def next_link(scope: Mapping[str, Any], limit: int, cursor: str) -> str:
    """The `Link` header of a page with a next one (RFC 8288): the same path, paged by `before`
    (every list that pages by cursor writes it this one way)."""
    path = quote(scope["path"])
    return f'<{path}?limit={limit}&before={cursor}>; rel="next"'
