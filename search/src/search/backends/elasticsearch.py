"""Elasticsearch backend: one index (settings.elasticsearch.index), document id = tweet id.

Writes go through the bulk helper with external versioning (version = the tweet's updated_at in
microseconds): Elasticsearch itself refuses a version that is not newer (409), which here means
"already applied", so redeliveries and out-of-order events change nothing. A delete is a tombstone
document with a later version, so a late create cannot bring the tweet back.

The analyzer is Elasticsearch's `english` analyzer with PostgreSQL's english stop words, and client
queries are translated from the websearch syntax PostgreSQL accepts, so a client cannot tell which
backend answered (apart from the scale of `score`).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import ApiError as ElasticsearchApiError
from elasticsearch import AsyncElasticsearch, BadRequestError, NotFoundError, TransportError
from elasticsearch.helpers import async_bulk

from search.backends.base import (
    FUZZY_MIN_LENGTH,
    DocumentsRejected,
    IndexDocument,
    SearchHit,
    UserDocument,
    UserHit,
    as_utc,
    clamp_filter_time,
    newest_per_tweet,
    newest_per_user,
)
from search.backends.stopwords import ENGLISH_STOP_WORDS
from shared.errors import DependencyUnavailable

ANALYZER = "tweet_english"
INDEX_SETTINGS: dict[str, Any] = {
    "analysis": {"analyzer": {ANALYZER: {"type": "english", "stopwords": sorted(ENGLISH_STOP_WORDS)}}},
}
MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "tweet_id": {"type": "keyword"},  # the _id again: sorting on _id is not allowed
        "user_id": {"type": "keyword"},
        "content": {"type": "text", "analyzer": ANALYZER},
        "created_at": {"type": "date"},  # milliseconds; the _source keeps the exact time
        "version": {"type": "long"},
        "deleted": {"type": "boolean"},
        "hashtags": {"type": "keyword"},  # folded already (shared.entities)
        "mentions": {"type": "keyword"},  # lower-cased usernames
    },
}
# The user index (`<index>_users`): names match by edge n-grams (prefixes) and by fuzzy terms.
USER_ANALYZER = "name_prefix"
USER_SETTINGS: dict[str, Any] = {
    "analysis": {
        "filter": {"name_edge": {"type": "edge_ngram", "min_gram": 1, "max_gram": 32}},
        "analyzer": {
            USER_ANALYZER: {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding", "name_edge"],
            },
            "name_words": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding"],
            },
        },
    },
}
USER_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "username": {"type": "text", "analyzer": USER_ANALYZER, "search_analyzer": "name_words"},
        "display_name": {"type": "text", "analyzer": USER_ANALYZER, "search_analyzer": "name_words"},
        "username_key": {"type": "keyword"},
        "num_followers": {"type": "long"},
        "deleted": {"type": "boolean"},
    },
}
SORT: list[dict[str, Any]] = [
    {"_score": {"order": "desc"}},
    {"created_at": {"order": "desc"}},
    {"tweet_id": {"order": "desc"}},
]
BULK_CHUNK = 500
_UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})
_QUERY_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"[^\W_]+")


class ElasticsearchBackend:
    name = "elasticsearch"

    def __init__(self, client: AsyncElasticsearch, index: str) -> None:
        self.client = client
        self.index = index
        self._index_ready = False

    @property
    def users_index(self) -> str:
        return f"{self.index}_users"

    async def setup(self) -> None:
        """Create the indexes with their mappings unless they exist (safe to run from several
        processes); an index made before entities existed gets their fields (adding is allowed)."""
        with _outage_as_unavailable():
            if not await self._create(self.index, INDEX_SETTINGS, MAPPINGS):
                entity_fields = {name: MAPPINGS["properties"][name] for name in ("hashtags", "mentions")}
                await self.client.indices.put_mapping(index=self.index, properties=entity_fields)
            await self._create(self.users_index, USER_SETTINGS, USER_MAPPINGS)
        self._index_ready = True

    async def _create(self, index: str, settings: dict[str, Any], mappings: dict[str, Any]) -> bool:
        """Whether this call created `index` (False: it existed)."""
        if await self.client.indices.exists(index=index):
            return False
        try:
            await self.client.indices.create(index=index, settings=settings, mappings=mappings)
        except BadRequestError as exc:
            if exc.message != "resource_already_exists_exception":
                raise
            return False
        return True

    async def apply(self, documents: Sequence[IndexDocument]) -> None:
        batch = newest_per_tweet(documents)
        if not batch:
            return
        if not self._index_ready:
            # Never let a bulk write create the index with a guessed (dynamic) mapping.
            await self.setup()
        actions = [
            {
                "_op_type": "index",
                "_index": self.index,
                "_id": str(document.id),
                "version": document.version,
                "version_type": "external",
                "_source": _source(document),
            }
            for document in batch
        ]
        with _outage_as_unavailable():
            _, errors = await async_bulk(self.client, actions, raise_on_error=False, chunk_size=BULK_CHUNK)
        _raise_for_failures(errors if isinstance(errors, list) else [])

    async def search(
        self,
        query: str,
        *,
        user_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
        offset: int = 0,
        hashtags: Sequence[str] = (),
        mentions: Sequence[str] = (),
    ) -> tuple[list[SearchHit], int]:
        text = to_simple_query_string(query) if query else ""
        filters: list[dict[str, Any]] = [{"term": {"deleted": False}}]
        filters += [{"term": {"hashtags": tag}} for tag in hashtags]
        filters += [{"term": {"mentions": name}} for name in mentions]
        if user_id is not None:
            filters.append({"term": {"user_id": str(user_id)}})
        created_at: dict[str, str] = {}
        if since is not None:
            created_at["gte"] = clamp_filter_time(since).isoformat()
        if until is not None:
            created_at["lt"] = clamp_filter_time(until).isoformat()
        if created_at:
            filters.append({"range": {"created_at": created_at}})
        match = {
            "simple_query_string": {
                "query": text,
                "fields": ["content"],
                "default_operator": "and",  # like websearch_to_tsquery: every word must match
                "flags": "OR|NOT|PHRASE|WHITESPACE",
            }
        }
        must = [match] if text else []
        with _outage_as_unavailable():
            try:
                response = await self.client.search(
                    index=self.index,
                    query={"bool": {"must": must, "filter": filters}},
                    sort=SORT,
                    from_=offset,
                    size=limit,
                    track_total_hits=True,
                    source_includes=["user_id", "content", "created_at"],
                )
            except NotFoundError as exc:
                if exc.message != "index_not_found_exception":
                    raise
                return [], 0  # nothing was ever indexed
        hits = [
            SearchHit(
                id=uuid.UUID(hit["_id"]),
                user_id=uuid.UUID(hit["_source"]["user_id"]),
                content=hit["_source"]["content"],
                created_at=datetime.fromisoformat(hit["_source"]["created_at"]),
                score=float(hit.get("_score") or 0.0),
            )
            for hit in response["hits"]["hits"]
        ]
        return hits, int(response["hits"]["total"]["value"])

    async def reset(self) -> None:
        # Documents are deleted, the index is kept: dropping it would let a concurrent bulk write
        # recreate it with a guessed (dynamic) mapping before setup() runs again.
        await self.setup()
        with _outage_as_unavailable():
            await self.client.delete_by_query(
                index=self.index, query={"match_all": {}}, conflicts="proceed", refresh=True
            )

    async def apply_users(self, users: Sequence[UserDocument]) -> None:
        batch = newest_per_user(users)
        if not batch:
            return
        if not self._index_ready:
            await self.setup()
        actions = [
            {
                "_op_type": "index",
                "_index": self.users_index,
                "_id": str(user.id),
                "version": user.version,
                "version_type": "external",
                "_source": {
                    "username": user.username,
                    "display_name": user.display_name,
                    "username_key": user.username.lower(),
                    "num_followers": user.num_followers,
                    "deleted": user.deleted,
                },
            }
            for user in batch
        ]
        with _outage_as_unavailable():
            _, errors = await async_bulk(self.client, actions, raise_on_error=False, chunk_size=BULK_CHUNK)
        _raise_for_failures(errors if isinstance(errors, list) else [])

    async def search_users(self, query: str, limit: int) -> tuple[list[UserHit], int]:
        words = query.strip()
        fuzzy = "1" if len(words) >= FUZZY_MIN_LENGTH else "0"
        match = {
            "multi_match": {
                "query": words,
                "fields": ["username", "display_name"],
                "fuzziness": fuzzy,
                "prefix_length": 1,
                "operator": "and",
            }
        }
        with _outage_as_unavailable():
            try:
                response = await self.client.search(
                    index=self.users_index,
                    query={"bool": {"must": [match], "filter": [{"term": {"deleted": False}}]}},
                    sort=[{"num_followers": {"order": "desc"}}, {"username_key": {"order": "asc"}}],
                    size=limit,
                    track_total_hits=True,
                    source_includes=["username", "display_name", "num_followers"],
                )
            except NotFoundError as exc:
                if exc.message != "index_not_found_exception":
                    raise
                return [], 0
        hits = [
            UserHit(
                uuid.UUID(hit["_id"]),
                hit["_source"]["username"],
                hit["_source"]["display_name"],
                int(hit["_source"]["num_followers"]),
            )
            for hit in response["hits"]["hits"]
        ]
        return hits, int(response["hits"]["total"]["value"])

    async def reset_users(self) -> None:
        await self.setup()
        with _outage_as_unavailable():
            await self.client.delete_by_query(
                index=self.users_index, query={"match_all": {}}, conflicts="proceed", refresh=True
            )

    async def trends(self, window: timedelta, limit: int) -> list[tuple[str, int]]:
        """A terms aggregation over the live tweets of the window, ordered by distinct authors
        (cardinality: exact below its precision threshold of 3000 authors per tag)."""
        since = (datetime.now(UTC) - window).isoformat()
        with _outage_as_unavailable():
            try:
                response = await self.client.search(
                    index=self.index,
                    size=0,
                    query={
                        "bool": {
                            "filter": [
                                {"term": {"deleted": False}},
                                {"range": {"created_at": {"gte": since}}},
                            ]
                        }
                    },
                    aggregations={
                        "tags": {
                            "terms": {
                                "field": "hashtags",
                                "size": limit,
                                "order": [{"authors": "desc"}, {"_key": "asc"}],
                            },
                            "aggregations": {"authors": {"cardinality": {"field": "user_id"}}},
                        }
                    },
                )
            except NotFoundError as exc:
                if exc.message != "index_not_found_exception":
                    raise
                return []
        buckets = response["aggregations"]["tags"]["buckets"]
        return [(bucket["key"], int(bucket["authors"]["value"])) for bucket in buckets]

    async def ping(self) -> None:
        with _outage_as_unavailable():
            await self.client.info()

    async def close(self) -> None:
        await self.client.close()


def to_simple_query_string(query: str) -> str:
    """The websearch syntax PostgreSQL accepts ("phrase", -word, or) in simple_query_string syntax.

    Only words (letters and digits) pass through, so no other operator reaches Elasticsearch.
    """
    parts: list[str] = []
    for match in _QUERY_TOKEN.finditer(query):
        negated, phrase, token = match.group(1) or "", match.group(2), match.group(3)
        if token is not None and token.lower() == "or":
            if parts and parts[-1] != "|":
                parts.append("|")
            continue
        if token is not None and token.startswith("-"):
            negated, token = "-", token[1:]
        words = _WORD.findall(phrase if phrase is not None else token)
        if not words:
            continue
        term = words[0] if len(words) == 1 else '"' + " ".join(words) + '"'
        parts.append(f"{negated}{term}")
    while parts and parts[-1] == "|":
        parts.pop()
    return " ".join(parts)


def _source(document: IndexDocument) -> dict[str, Any]:
    return {
        "tweet_id": str(document.id),
        "user_id": str(document.user_id),
        "content": document.content,
        "created_at": as_utc(document.created_at).isoformat(),
        "version": document.version,
        "deleted": document.deleted,
        "hashtags": list(document.hashtags),
        "mentions": list(document.mentions),
    }


def _raise_for_failures(errors: list[dict[str, Any]]) -> None:
    """Per-document bulk failures: an overloaded cluster is an outage, anything else a rejection."""
    rejected: dict[uuid.UUID, str] = {}
    for error in errors:
        item = next(iter(error.values()))
        status = int(item.get("status", 500))
        if status == 409:
            continue  # the stored version is the same or newer: this write is already reflected
        if status in _UNAVAILABLE_STATUSES or status >= 500:
            raise DependencyUnavailable(
                f"Elasticsearch refused a bulk write ({status})", dependency="elasticsearch"
            )
        rejected[uuid.UUID(item["_id"])] = str(item.get("error", status))[:500]
    if rejected:
        raise DocumentsRejected(rejected)


@contextlib.contextmanager
def _outage_as_unavailable() -> Iterator[None]:
    try:
        yield
    except TransportError as exc:
        raise DependencyUnavailable("Elasticsearch is unavailable", dependency="elasticsearch") from exc
    except ElasticsearchApiError as exc:
        if exc.status_code in _UNAVAILABLE_STATUSES:
            raise DependencyUnavailable(
                f"Elasticsearch is unavailable ({exc.status_code})", dependency="elasticsearch"
            ) from exc
        raise
