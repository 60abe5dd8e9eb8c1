"""Which backend serves the index: Elasticsearch when a URL is configured, PostgreSQL otherwise."""

from __future__ import annotations

from elasticsearch import AsyncElasticsearch

from search.backends.base import SearchBackend
from search.backends.elasticsearch import ElasticsearchBackend
from search.backends.postgres import PostgresBackend
from shared.db.engine import build_engine
from shared.settings import Settings

ELASTICSEARCH_TIMEOUT_SECONDS = 5.0


def create_backend(settings: Settings) -> SearchBackend:
    """A backend with its own connections (opened lazily); close it when done."""
    if settings.elasticsearch.url:
        client = AsyncElasticsearch(
            settings.elasticsearch.url,
            request_timeout=ELASTICSEARCH_TIMEOUT_SECONDS,
            max_retries=1,
            retry_on_timeout=True,
        )
        return ElasticsearchBackend(client, settings.elasticsearch.index)
    return PostgresBackend(build_engine(settings.database, settings.searchservice.database))
