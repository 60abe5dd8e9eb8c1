"""Discovery on every backend: search by hashtag and mention, user search, trends, account events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import orjson
import pytest

from devtools.testing import assert_problem, wait_for
from search.backends import IndexDocument, UserDocument, microseconds
from search.backends.base import parse_query
from shared.messaging.events import Entities
from shared.messaging.topology import USER_EVENTS

from .conftest import SearchStack, document, tweet_event


def tagged(
    content: str,
    *,
    hashtags: tuple[str, ...] = (),
    mentions: tuple[str, ...] = (),
    user_id: uuid.UUID | None = None,
    created_at: datetime | None = None,
    tweet_id: uuid.UUID | None = None,
    version_offset: timedelta = timedelta(0),
    deleted: bool = False,
) -> IndexDocument:
    base = document(
        content,
        tweet_id=tweet_id,
        user_id=user_id,
        created_at=created_at,
        version_offset=version_offset,
        deleted=deleted,
    )
    return IndexDocument(
        base.id,
        base.user_id,
        base.content,
        base.created_at,
        base.version,
        base.deleted,
        () if deleted else hashtags,
        () if deleted else mentions,
    )


def test_query_terms_that_are_tags_or_mentions_become_filters() -> None:
    assert parse_query("#Café") == parse_query("#café") != parse_query("café")
    query = parse_query('#Go @Alice release "next week" -beta the')
    assert (query.hashtags, query.mentions) == (("go",), ("alice",))
    assert query.words == 'release "next week" -beta the'
    assert parse_query("#tag the").words == ""  # only stop words besides the tag
    assert parse_query("bob@example.com").mentions == ()


async def test_hashtag_search_matches_the_tag_not_the_bare_word(index: SearchStack) -> None:
    with_tag = tagged("shipping the #release today", hashtags=("release",))
    bare_word = tagged("the release is late")
    other_tag = tagged("#release2 notes", hashtags=("release2",))
    await index.index(with_tag, bare_word, other_tag)

    assert await index.found_ids("#release") == [str(with_tag.id)]
    assert await index.found_ids("#RELEASE") == [str(with_tag.id)]
    assert set(await index.found_ids("release")) >= {str(with_tag.id), str(bare_word.id)}


async def test_tag_and_mention_combine_with_words_and_filters(index: SearchStack) -> None:
    author = uuid.uuid4()
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    match = tagged(
        "coffee with @alice #café", hashtags=("café",), mentions=("alice",), user_id=author, created_at=t0
    )
    no_mention = tagged("coffee alone #café", hashtags=("café",), user_id=author, created_at=t0)
    other_word = tagged(
        "tea with @alice #café", hashtags=("café",), mentions=("alice",), user_id=author, created_at=t0
    )
    other_author = tagged("coffee with @alice #café", hashtags=("café",), mentions=("alice",), created_at=t0)
    await index.index(match, no_mention, other_word, other_author)

    assert set(await index.found_ids("@alice")) == {str(match.id), str(other_word.id), str(other_author.id)}
    assert await index.found_ids("coffee #café @Alice", user_id=str(author)) == [str(match.id)]
    later = (t0 + timedelta(seconds=1)).isoformat()
    assert await index.found_ids("#café @alice", since=later) == []


async def test_an_edit_that_removes_a_tag_removes_the_tweet_from_its_search(index: SearchStack) -> None:
    original = tagged("v1 #temporary", hashtags=("temporary",))
    await index.index(original)
    assert await index.found_ids("#temporary") == [str(original.id)]
    edited = tagged("v2", tweet_id=original.id, user_id=original.user_id, version_offset=timedelta(minutes=1))
    await index.index(edited)
    assert await index.found_ids("#temporary") == []


def _user(name: str, display: str, followers: int, version: int = 1, **kw: Any) -> UserDocument:
    return UserDocument(uuid.uuid4(), name, display, followers, version, **kw)


async def _users(index: SearchStack, q: str, **params: Any) -> dict[str, Any]:
    response = await index.client.get("/search/users", params={"q": q, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_user_search_by_prefix_most_followed_first(index: SearchStack) -> None:
    await index.backend.reset_users()
    quiet = _user("alice_q", "Alice Quiet", 3)
    famous = _user("alicorn", "The Unicorn", 900)
    by_name = _user("zed", "Alice Liddell", 50)
    unrelated = _user("bob", "Bob", 10_000)
    await index.backend.apply_users([quiet, famous, by_name, unrelated])
    await index.settle()

    page = await _users(index, "ali")
    assert [hit["username"] for hit in page["results"]] == ["alicorn", "zed", "alice_q"]
    assert page["total"] == 3 and page["limit"] == 20
    assert set(page["results"][0]) == {"id", "username", "display_name", "num_followers"}
    assert [hit["username"] for hit in (await _users(index, "liddell"))["results"]] == ["zed"]
    assert [hit["username"] for hit in (await _users(index, "ALI", limit=1))["results"]] == ["alicorn"]


async def test_user_search_tolerates_one_typo(index: SearchStack) -> None:
    await index.backend.reset_users()
    target = _user("margaret", "Margaret Hamilton", 7)
    await index.backend.apply_users([target])
    await index.settle()

    for typo in ("margeret", "marggaret", "margart", "margar", "margx"):
        found = [hit["username"] for hit in (await _users(index, typo))["results"]]
        assert found == ["margaret"], typo
    assert (await _users(index, "mxrgxret"))["results"] == []  # two edits


async def test_user_search_keeps_the_newest_version_and_drops_deleted_accounts(index: SearchStack) -> None:
    await index.backend.reset_users()
    user = _user("carol_dev", "Carol", 1, version=10)
    await index.backend.apply_users([user])
    renamed = UserDocument(user.id, "carol_dev", "Caroline", 5, 20)
    stale = UserDocument(user.id, "carol_dev", "Old Name", 0, 15)
    await index.backend.apply_users([renamed])
    await index.backend.apply_users([stale])
    await index.settle()
    [hit] = (await _users(index, "carol"))["results"]
    assert (hit["display_name"], hit["num_followers"]) == ("Caroline", 5)

    await index.backend.apply_users([UserDocument(user.id, "", "", 0, 30, deleted=True)])
    await index.settle()
    assert (await _users(index, "carol"))["results"] == []


async def _trends(index: SearchStack, **params: Any) -> list[tuple[str, int]]:
    response = await index.client.get("/trends", params=params)
    assert response.status_code == 200, response.text
    return [(trend["hashtag"], trend["count"]) for trend in response.json()["trends"]]


async def test_trends_count_distinct_authors_within_the_window(index: SearchStack) -> None:
    now = datetime.now(UTC)
    spammer, a, b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    docs = [tagged("#spam", hashtags=("spam",), user_id=spammer, created_at=now) for _ in range(5)]
    docs += [tagged("#real", hashtags=("real",), user_id=author, created_at=now) for author in (a, b)]
    docs.append(tagged("#old", hashtags=("old",), user_id=a, created_at=now - timedelta(hours=2)))
    docs.append(tagged("#old", hashtags=("old",), user_id=b, created_at=now - timedelta(hours=2)))
    docs.append(tagged("#old", hashtags=("old",), user_id=spammer, created_at=now - timedelta(hours=2)))
    await index.index(*docs)

    assert await _trends(index, window="1h") == [("real", 2), ("spam", 1)]
    assert await _trends(index, window="24h") == [("old", 3), ("real", 2), ("spam", 1)]
    assert await _trends(index, window="24h", limit=1) == [("old", 3)]


async def test_edited_and_deleted_tweets_leave_the_trends(index: SearchStack) -> None:
    now = datetime.now(UTC)
    first = tagged("#fleeting", hashtags=("fleeting",), created_at=now)
    second = tagged("#fleeting", hashtags=("fleeting",), created_at=now)
    await index.index(first, second)
    assert await _trends(index, window="1h") == [("fleeting", 2)]

    edit = timedelta(seconds=1)
    await index.index(
        tagged("no tag", tweet_id=first.id, user_id=first.user_id, created_at=now, version_offset=edit),
        tagged(
            "", tweet_id=second.id, user_id=second.user_id, created_at=now, version_offset=edit, deleted=True
        ),
    )
    assert await _trends(index, window="1h") == []


async def test_trends_follow_edits_and_deletes_arriving_as_events(worker: SearchStack) -> None:
    now = datetime.now(UTC)

    def event(
        event_type: str, tweet_id: uuid.UUID, user_id: uuid.UUID, tags: list[str], later: int = 0
    ) -> Any:
        created = tweet_event(event_type, tweet_id, user_id, " ".join(f"#{tag}" for tag in tags))
        return created.model_copy(
            update={
                "created_at": now,
                "updated_at": now + timedelta(seconds=later),
                "entities": Entities(hashtags=tags),
            }
        )

    kept, edited, deleted, sentinel = (uuid.uuid4() for _ in range(4))
    authors = {tweet: uuid.uuid4() for tweet in (kept, edited, deleted, sentinel)}
    for tweet_id, tags in ((kept, ["stays"]), (edited, ["fleeting"]), (deleted, ["fleeting"])):
        await worker.broker.publish(event("tweet.create", tweet_id, authors[tweet_id], tags))
    await worker.broker.publish(event("tweet.update", edited, authors[edited], [], later=1))
    await worker.broker.publish(event("tweet.delete", deleted, authors[deleted], [], later=1))
    await worker.broker.publish(event("tweet.create", sentinel, authors[sentinel], ["sentinel"]))

    # Indexed in delivery order: once the sentinel counts, the edit and the delete were applied.
    async def sentinel_counted() -> bool:
        await worker.settle()
        return ("sentinel", 1) in await _trends(worker, window="1h")

    await wait_for(sentinel_counted, timeout=15)
    assert await _trends(worker, window="1h") == [("sentinel", 1), ("stays", 1)]


async def test_bad_windows_and_blank_user_queries_are_422(index: SearchStack) -> None:
    assert (await index.client.get("/trends", params={"window": "7d"})).status_code == 422
    assert (await index.client.get("/search/users", params={"q": " "})).status_code == 422
    assert (await index.client.get("/search/users", params={"q": "x" * 65})).status_code == 422


@pytest.mark.parametrize("q", ["100%", "a_b", "\\", "ma  x", "\u3000ma", "%_%_"])
async def test_like_wildcards_and_odd_spaces_in_user_queries_are_answered(index: SearchStack, q: str) -> None:
    assert (await index.client.get("/search/users", params={"q": q})).status_code == 200


async def test_a_nul_in_a_user_query_is_422_not_a_database_error(index: SearchStack) -> None:
    assert_problem(await index.client.get("/search/users", params={"q": "a\x00b"}), 422)


async def _publish_user_event(index: SearchStack, body: dict[str, Any]) -> None:
    exchange = await index.broker.channel.get_exchange(USER_EVENTS)
    message = aio_pika.Message(
        orjson.dumps(body), message_id=str(uuid.uuid4()), content_type="application/json"
    )
    await exchange.publish(message, routing_key=body["event_type"])


async def test_the_worker_indexes_account_events(worker: SearchStack) -> None:
    await worker.backend.reset_users()
    user_id = str(uuid.uuid4())
    at = datetime.now(UTC)
    profile = {"user_id": user_id, "username": "dora_explorer", "display_name": "Dora", "num_followers": 2}
    for offset, event_type, extra in (
        (0, "user.create", {}),
        (1, "user.update", {"num_followers": 3}),
    ):
        body = {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            **profile,
            **extra,
            "occurred_at": (at + timedelta(seconds=offset)).isoformat(),
        }
        await _publish_user_event(worker, body)

    async def followers_seen() -> bool:
        await worker.settle()
        results = (await _users(worker, "dora"))["results"]
        return [hit["num_followers"] for hit in results] == [3]

    await wait_for(followers_seen, timeout=15)
    await _publish_user_event(
        worker,
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "user.delete",
            "user_id": user_id,
            "occurred_at": (at + timedelta(seconds=2)).isoformat(),
        },
    )

    async def gone() -> bool:
        await worker.settle()
        return (await _users(worker, "dora"))["results"] == []

    await wait_for(gone, timeout=15)


def test_versions_of_user_documents_are_microseconds() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    assert microseconds(moment) == UserDocument(uuid.uuid4(), "a", "", 0, microseconds(moment)).version
