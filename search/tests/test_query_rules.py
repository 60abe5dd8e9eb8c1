"""The rules both backends share: which queries are searchable, versions, and query translation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from search.backends import IndexDocument, microseconds, newest_per_tweet, validate_query
from search.backends.base import EARLIEST_FILTER_TIME, LATEST_FILTER_TIME, clamp_filter_time
from search.backends.elasticsearch import to_simple_query_string
from shared.errors import InvalidInput


@pytest.mark.parametrize("q", ["", "  ", "the", "!!!", "to be or not to be", "don't", "___", "🙂", "\x00"])
def test_query_with_only_stop_words_or_punctuation_is_invalid(q: str) -> None:
    with pytest.raises(InvalidInput):
        validate_query(q)


@pytest.mark.parametrize("q", ["cats", " the cat ", "2026", "你好", "C++", "x" * 256])
def test_query_with_a_searchable_word_is_kept_without_outer_blanks(q: str) -> None:
    assert validate_query(q) == q.strip()


def test_query_over_256_characters_is_invalid() -> None:
    with pytest.raises(InvalidInput):
        validate_query("x" * 257)


def test_version_is_exact_microseconds_in_any_time_zone() -> None:
    moment = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)

    assert microseconds(moment) == 1_767_268_800_123_456
    assert microseconds(moment.astimezone(timezone(timedelta(hours=5)))) == microseconds(moment)
    assert microseconds(moment.replace(tzinfo=None)) == microseconds(moment)


def test_filter_times_are_moved_into_the_range_every_backend_compares() -> None:
    plus5 = timezone(timedelta(hours=5))

    assert clamp_filter_time(datetime(1, 1, 1, tzinfo=plus5)) == EARLIEST_FILTER_TIME
    assert clamp_filter_time(datetime(1900, 1, 1)) == EARLIEST_FILTER_TIME
    assert (
        clamp_filter_time(datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-14))))
        == LATEST_FILTER_TIME
    )
    assert clamp_filter_time(datetime(2026, 1, 1, 5, tzinfo=plus5)) == datetime(2026, 1, 1, tzinfo=UTC)


def test_newest_version_per_tweet_wins_and_a_tombstone_wins_a_tie() -> None:
    tweet, other = uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def version(tweet_id: uuid.UUID, number: int, deleted: bool = False) -> IndexDocument:
        return IndexDocument(tweet_id, tweet_id, f"v{number}", at, number, deleted)

    kept = newest_per_tweet(
        [
            version(tweet, 1),
            version(tweet, 3),
            version(other, 1),
            version(tweet, 2),
            version(tweet, 3, deleted=True),
        ]
    )

    assert sorted((d.id == tweet, d.version, d.deleted) for d in kept) == [(False, 1, False), (True, 3, True)]


@pytest.mark.parametrize(
    ("websearch", "simple_query_string"),
    [
        ("cat dog", "cat dog"),
        ("cat or dog", "cat | dog"),
        ("or cat or", "cat"),
        ('"green tea" -milk', '"green tea" -milk'),
        ('-"green tea" cake', '-"green tea" cake'),
        ("foo-bar", '"foo bar"'),
        ("a+b* (c) ~d | e", '"a b" c d e'),
        ('unclosed "phrase here', 'unclosed "phrase here"'),
    ],
)
def test_websearch_syntax_translates_to_simple_query_string(websearch: str, simple_query_string: str) -> None:
    assert to_simple_query_string(websearch) == simple_query_string
