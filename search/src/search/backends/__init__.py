"""Search backends behind one interface: PostgreSQL full-text (default) or Elasticsearch."""

from __future__ import annotations

from search.backends.base import (
    DocumentsRejected,
    IndexDocument,
    SearchBackend,
    SearchHit,
    SearchQuery,
    UserDocument,
    UserHit,
    document_from_event,
    microseconds,
    newest_per_tweet,
    validate_query,
)
from search.backends.factory import create_backend

__all__ = [
    "DocumentsRejected",
    "IndexDocument",
    "SearchBackend",
    "SearchHit",
    "SearchQuery",
    "UserDocument",
    "UserHit",
    "create_backend",
    "document_from_event",
    "microseconds",
    "newest_per_tweet",
    "validate_query",
]
