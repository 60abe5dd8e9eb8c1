"""The one interface of the search index, the documents it holds, and the rules both backends share.

Order safety: every document carries a version (its tweet's `updated_at` in microseconds since the
epoch); a write applies only when its version is newer than the stored one, and a delete is a
tombstone with its own (later) version. Redelivered, duplicated and out-of-order events therefore
change nothing, and a late create can never bring a deleted tweet back.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from search.backends.stopwords import ENGLISH_STOP_WORDS
from shared.entities import hashtags, mention_candidates
from shared.errors import InvalidInput
from shared.messaging.events import TweetEvent
from shared.messaging.topology import TWEET_DELETE

MAX_QUERY_LENGTH = 256
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST_FILTER_TIME = _EPOCH
LATEST_FILTER_TIME = datetime(9999, 1, 1, tzinfo=UTC)
# A word as PostgreSQL's parser sees one: letters or digits; punctuation and "_" separate words.
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class IndexDocument:
    """One version of a tweet in the index; `deleted` marks a tombstone."""

    id: uuid.UUID
    user_id: uuid.UUID
    content: str
    created_at: datetime
    version: int
    deleted: bool = False
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()  # lower-cased usernames of the mentioned accounts


@dataclass(frozen=True)
class UserDocument:
    """One version of an account in the user index (version: the event's time in microseconds)."""

    id: uuid.UUID
    username: str
    display_name: str
    num_followers: int
    version: int
    deleted: bool = False


@dataclass(frozen=True)
class UserHit:
    id: uuid.UUID
    username: str
    display_name: str
    num_followers: int


# Trends count tweets of at most this window; a backend keeps what it needs for the longest.
TREND_WINDOWS: dict[str, timedelta] = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}
# A user search shorter than this matches by prefix only (one edit away from 3 letters is everything).
# PostgreSQL's typo index (search migration 0003) relies on it being at least 4.
FUZZY_MIN_LENGTH = 4
MAX_USER_QUERY_LENGTH = 64


@dataclass(frozen=True)
class SearchQuery:
    """A client's `q` taken apart: the words for full-text search ("" for none), and the hashtags
    (folded) and mentioned usernames (lower-cased) every match must carry."""

    words: str
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchHit:
    id: uuid.UUID
    user_id: uuid.UUID
    content: str
    created_at: datetime
    score: float


class DocumentsRejected(Exception):
    """The backend refused some documents of a batch for good; the others were written."""

    def __init__(self, reasons: dict[uuid.UUID, str]) -> None:
        super().__init__(f"{len(reasons)} document(s) rejected: {next(iter(reasons.values()), '')}")
        self.reasons = reasons


class SearchBackend(Protocol):
    """The search index. Results are ordered by score, then newest first, then by id."""

    name: str  # what /ready calls the dependency: "postgresql" or "elasticsearch"

    async def setup(self) -> None:
        """Create what the index needs if it is missing (idempotent)."""

    async def apply(self, documents: Sequence[IndexDocument]) -> None:
        """Write a batch; each document applies only if it is newer than the stored version.

        Raises DependencyUnavailable when the backend cannot be reached, DocumentsRejected when
        it refused some documents for good.
        """

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
        """One page of live (not deleted) matches and the total number of matches.

        `query` is the words of a `parse_query` result ("" only with hashtags or mentions: then
        every tweet carrying them matches); `since` is inclusive and `until` exclusive.
        """

    async def reset(self) -> None:
        """Remove every document (the start of a reindex)."""

    async def apply_users(self, users: Sequence[UserDocument]) -> None:
        """Write account versions; each applies only if newer than the stored one."""

    async def search_users(self, query: str, limit: int) -> tuple[list[UserHit], int]:
        """Live accounts whose username or a word of whose display name starts with `query`
        (folded), or does so one edit away when `query` has FUZZY_MIN_LENGTH characters or more;
        most followed first, and how many match."""

    async def reset_users(self) -> None:
        """Remove every account (the start of a reindex)."""

    async def trends(self, window: timedelta, limit: int) -> list[tuple[str, int]]:
        """(hashtag, distinct authors) of the live tweets created within `window`, most first."""

    async def ping(self) -> None:
        """Raise unless the backend answers."""

    async def close(self) -> None:
        """Release connections."""


def validate_query(text: str) -> str:
    """The query without surrounding blanks; InvalidInput if blank, too long or only stop words.

    Decided here, not by a backend, so both backends reject exactly the same queries.
    """
    # PostgreSQL text cannot hold NUL; as punctuation it separates words, like everywhere else.
    stripped = text.replace("\x00", " ").strip()
    if not stripped:
        raise InvalidInput("q must not be blank", field="q")
    if len(stripped) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"q must be at most {MAX_QUERY_LENGTH} characters", field="q")
    words = _WORD.findall(stripped.lower())
    if all(word in ENGLISH_STOP_WORDS for word in words):
        raise InvalidInput("q has no searchable word (only stop words or punctuation)", field="q")
    # Only negations (`-foo`) would match, and rank, nearly the whole corpus: refused.
    wanted = [term for term in _TERM.findall(stripped.lower()) if not term.startswith("-") and term != "or"]
    if all(word in ENGLISH_STOP_WORDS for term in wanted for word in _WORD.findall(term)) or not any(
        _WORD.search(term) for term in wanted
    ):
        raise InvalidInput("q needs at least one word that is not negated", field="q")
    return stripped


def parse_query(text: str) -> SearchQuery:
    """`q` with its `#tags` and `@names` taken out as filters; InvalidInput if nothing is searchable.

    A term that is exactly a hashtag (`#Café`, `#café,`) or a mention (`@alice`) filters; quoted
    or negated ones stay words. The rest follows `validate_query` (and may be empty when a tag or
    a mention is given; words that are only stop words are then dropped).
    """
    stripped = text.replace("\x00", " ").strip()
    if len(stripped) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"q must be at most {MAX_QUERY_LENGTH} characters", field="q")
    tags: dict[str, None] = {}
    names: dict[str, None] = {}
    words: list[str] = []
    for term in _TERM.findall(stripped):
        tag = hashtags(term) if term.startswith("#") else []
        name = mention_candidates(term) if term.startswith("@") else []
        if len(tag) == 1:
            tags.setdefault(tag[0])
        elif len(name) == 1:
            names.setdefault(name[0])
        else:
            words.append(term)
    if not tags and not names:
        return SearchQuery(validate_query(stripped))
    rest = " ".join(words)
    try:
        rest = validate_query(rest)
    except InvalidInput:
        rest = ""
    return SearchQuery(rest, tuple(tags), tuple(names))


# A term of a web-search query: a quoted phrase (maybe negated) or a run of non-blanks.
_TERM = re.compile(r'-?"[^"]*"?|\S+')


def clamp_filter_time(moment: datetime) -> datetime:
    """A since/until bound in UTC, moved into the range every backend can compare with.

    No tweet predates the epoch, so moving an earlier bound there changes no answer; a year
    that does not exist in UTC (0001-01-01T00:00+05:00) no longer fails the query either.
    """
    try:
        utc = as_utc(moment).astimezone(UTC)
    except OverflowError:
        return EARLIEST_FILTER_TIME if moment.year == datetime.min.year else LATEST_FILTER_TIME
    return min(max(utc, EARLIEST_FILTER_TIME), LATEST_FILTER_TIME)


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware datetime; a naive one is taken to be UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def microseconds(moment: datetime) -> int:
    """A document version: microseconds since the epoch (exact, no float rounding)."""
    return (as_utc(moment) - _EPOCH) // timedelta(microseconds=1)


def document_from_event(event: TweetEvent) -> IndexDocument:
    """The index document an event stands for; a delete becomes a tombstone without its text."""
    deleted = event.event_type == TWEET_DELETE
    return IndexDocument(
        id=event.tweet_id,
        user_id=event.user_id,
        # PostgreSQL text cannot hold NUL; it carries no meaning for search anyway.
        content="" if deleted else event.content.replace("\x00", ""),
        created_at=as_utc(event.created_at),
        version=microseconds(event.updated_at),
        deleted=deleted,
        hashtags=() if deleted else tuple(event.entities.hashtags),
        mentions=() if deleted else tuple(mention.username.lower() for mention in event.entities.mentions),
    )


def newest_per_user(users: Iterable[UserDocument]) -> list[UserDocument]:
    """One version per account: the newest, a tombstone winning a tie."""
    newest: dict[uuid.UUID, UserDocument] = {}
    for user in users:
        current = newest.get(user.id)
        if current is None or (user.version, user.deleted) > (current.version, current.deleted):
            newest[user.id] = user
    return list(newest.values())


def newest_per_tweet(documents: Iterable[IndexDocument]) -> list[IndexDocument]:
    """One document per tweet: the newest version, a tombstone winning a tie."""
    newest: dict[uuid.UUID, IndexDocument] = {}
    for document in documents:
        current = newest.get(document.id)
        if current is None or (document.version, document.deleted) > (current.version, current.deleted):
            newest[document.id] = document
    return list(newest.values())
