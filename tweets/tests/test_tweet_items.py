"""Tweet objects served by tweets REST as items a client can draw: `author`, `liked_by_me`,
`reposted_by_me` (false without a token) and `entities` on GET /tweet/{id}, user timelines, replies,
likes and reposts; since_id, next_cursor and Link on user timelines; one batch of calls per page."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from devtools.testing import Account, StartedService, assert_problem, wait_for
from feed.authors import AUTHOR_TTL_SECONDS, AUTHORS_STREAM
from fleet_proto import user_service_pb2_grpc
from shared.grpc.channels import open_channel
from shared.invalidation import announce
from shared.lifecycle import redis_client
from shared.settings import Settings
from shared.wiring import wiring_of
from tweets.deps import TweetsWiring
from tweets.items import TweetItems

Post = Callable[..., Awaitable[dict[str, Any]]]
AccountFactory = Callable[[], Awaitable[Account]]


def author_of(account: Account) -> dict[str, Any]:
    # A new account's display name is its username.
    return {"id": str(account.id), "username": account.username, "display_name": account.username}


async def get(client: httpx.AsyncClient, path: str, account: Account | None = None, **params: Any) -> Any:
    response = await client.get(path, params=params, headers=account.headers if account else {})
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_tweet_carries_its_author_and_the_callers_state(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post
) -> None:
    tweet = await post(client, alice, "draw me #Art")
    assert (await client.post(f"/tweet/like/{tweet['id']}", headers=bob.headers)).status_code == 201

    as_bob = await get(client, f"/tweet/{tweet['id']}", bob)
    anonymous = await get(client, f"/tweet/{tweet['id']}")
    as_alice = await get(client, f"/tweet/{tweet['id']}", alice)

    assert as_bob["author"] == author_of(alice)
    assert as_bob["entities"] == {"hashtags": ["art"], "mentions": []}
    assert (as_bob["liked_by_me"], as_bob["reposted_by_me"]) == (True, False)
    assert (anonymous["liked_by_me"], anonymous["reposted_by_me"]) == (False, False)
    assert (as_alice["liked_by_me"], as_alice["reposted_by_me"]) == (False, False)
    # A token that is there is checked: a bad one is 401, not an anonymous read.
    bad = await client.get(f"/tweet/{tweet['id']}", headers={"Authorization": "Bearer nope"})
    assert_problem(bad, 401)


async def test_user_timeline_items_show_the_callers_likes_and_reposts(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post
) -> None:
    liked, reposted, plain = [await post(client, alice, text) for text in ("liked", "reposted", "plain")]
    await client.post(f"/tweet/like/{liked['id']}", headers=bob.headers)
    await client.post(f"/tweet/repost/{reposted['id']}", headers=bob.headers)

    page = await get(client, f"/tweet/user/{alice.id}", bob)
    state = {item["id"]: (item["liked_by_me"], item["reposted_by_me"]) for item in page["tweets"]}

    assert state == {liked["id"]: (True, False), reposted["id"]: (False, True), plain["id"]: (False, False)}
    assert all(item["author"] == author_of(alice) for item in page["tweets"])
    anonymous = await get(client, f"/tweet/user/{alice.id}")
    assert {(item["liked_by_me"], item["reposted_by_me"]) for item in anonymous["tweets"]} == {(False, False)}


async def test_replies_carry_author_and_entities(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post
) -> None:
    tweet = await post(client, alice, "question")
    created = await client.post(
        f"/tweet/reply/{tweet['id']}", json={"content": f"@{alice.username} see #Answer"}, headers=bob.headers
    )
    assert created.status_code == 201, created.text
    mention = {"id": str(alice.id), "username": alice.username}
    assert created.json()["entities"] == {"hashtags": ["answer"], "mentions": [mention]}

    (reply,) = (await get(client, f"/tweet/reply/{tweet['id']}", alice))["replies"]

    assert reply["author"] == author_of(bob)
    assert reply["entities"] == {"hashtags": ["answer"], "mentions": [mention]}
    assert (reply["liked_by_me"], reply["reposted_by_me"]) == (False, False)


async def test_likes_and_reposts_lists_carry_items(
    client: httpx.AsyncClient, alice: Account, bob: Account, post: Post
) -> None:
    both, liked_only = await post(client, alice, "both"), await post(client, alice, "liked only")
    for path in (
        f"/tweet/like/{both['id']}",
        f"/tweet/repost/{both['id']}",
        f"/tweet/like/{liked_only['id']}",
    ):
        assert (await client.post(path, headers=bob.headers)).status_code == 201

    likes = (await get(client, "/tweet/like", bob))["likes"]
    reposts = (await get(client, "/tweet/repost", bob))["reposts"]

    liked_state = {
        like["tweet_id"]: (like["tweet"]["liked_by_me"], like["tweet"]["reposted_by_me"]) for like in likes
    }
    assert liked_state == {both["id"]: (True, True), liked_only["id"]: (True, False)}
    (repost,) = reposts
    assert repost["tweet"]["author"] == author_of(alice)
    assert (repost["tweet"]["liked_by_me"], repost["tweet"]["reposted_by_me"]) == (True, True)
    assert repost["tweet"]["entities"] == {"hashtags": [], "mentions": []}


async def test_write_answers_are_the_items_reads_return(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    created = await client.post("/tweet", json={"content": "new #Thing"}, headers=alice.headers)
    assert created.status_code == 201, created.text
    tweet_id = created.json()["id"]
    assert created.json() == await get(client, f"/tweet/{tweet_id}", alice)

    edited = await client.patch(
        f"/tweet/{tweet_id}", json={"content": f"@{bob.username} hi"}, headers=alice.headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["entities"]["mentions"] == [{"id": str(bob.id), "username": bob.username}]
    assert edited.json() == await get(client, f"/tweet/{tweet_id}", alice)

    liked = await client.post(f"/tweet/like/{tweet_id}", headers=bob.headers)
    assert liked.status_code == 201, liked.text
    # The answer shows the like it made (committed before the answer is rendered).
    assert (liked.json()["tweet"]["liked_by_me"], liked.json()["tweet"]["reposted_by_me"]) == (True, False)
    assert liked.json()["tweet"] == await get(client, f"/tweet/{tweet_id}", bob)
    (listed_like,) = (await get(client, "/tweet/like", bob))["likes"]

    reposted = await client.post(f"/tweet/repost/{tweet_id}", headers=bob.headers)
    assert reposted.status_code == 201, reposted.text
    assert (reposted.json()["tweet"]["liked_by_me"], reposted.json()["tweet"]["reposted_by_me"]) == (
        True,
        True,
    )
    assert reposted.json()["tweet"] == await get(client, f"/tweet/{tweet_id}", bob)
    assert reposted.json() == (await get(client, "/tweet/repost", bob))["reposts"][0]
    assert liked.json() | {"tweet": listed_like["tweet"]} == listed_like

    replied = await client.post(f"/tweet/reply/{tweet_id}", json={"content": "#Yes"}, headers=bob.headers)
    assert replied.status_code == 201, replied.text
    assert replied.json()["author"] == author_of(bob)
    assert [replied.json()] == (await get(client, f"/tweet/reply/{tweet_id}", bob))["replies"]


async def test_user_timeline_since_id_next_cursor_and_link(
    client: httpx.AsyncClient, alice: Account, post: Post
) -> None:
    first = [(await post(client, alice, f"t{i}"))["id"] for i in range(3)]

    page = await client.get(f"/tweet/user/{alice.id}", params={"limit": 2})
    body = page.json()
    assert [t["id"] for t in body["tweets"]] == [first[2], first[1]]
    assert body["next_cursor"] == first[1]
    assert page.headers["link"] == f'</tweet/user/{alice.id}?limit=2&before={first[1]}>; rel="next"'
    last = await client.get(f"/tweet/user/{alice.id}", params={"limit": 2, "before": body["next_cursor"]})
    assert [t["id"] for t in last.json()["tweets"]] == [first[0]]
    assert last.json()["next_cursor"] is None and "link" not in last.headers

    newer = [(await post(client, alice, f"n{i}"))["id"] for i in range(3)]
    since = await get(client, f"/tweet/user/{alice.id}", since_id=first[2], limit=2)
    assert [t["id"] for t in since["tweets"]] == [newer[2], newer[1]]
    assert (await get(client, f"/tweet/user/{alice.id}", since_id=newer[2]))["tweets"] == []
    both = await client.get(f"/tweet/user/{alice.id}", params={"since_id": first[0], "before": newer[0]})
    assert_problem(both, 422)


class CountingUsers:
    """A users stub that counts its calls."""

    def __init__(self, stub: user_service_pb2_grpc.UserAsyncStub, calls: Counter[str]) -> None:
        self._stub = stub
        self._calls = calls

    async def GetUsers(self, *args: Any, **kwargs: Any) -> Any:
        self._calls["GetUsers"] += 1
        return await self._stub.GetUsers(*args, **kwargs)


class CountingItems(TweetItems):
    """TweetItems counting its viewer-state queries (each one statement: repository.viewer_state)."""

    def __init__(self, calls: Counter[str], *args: Any) -> None:
        super().__init__(*args)
        self._calls = calls

    async def viewer_state(
        self, viewer_id: uuid.UUID | None, tweet_ids: list[uuid.UUID]
    ) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
        self._calls["viewer_state"] += 1
        return await super().viewer_state(viewer_id, tweet_ids)


CountCalls = Callable[[], Counter[str]]


@pytest.fixture
async def count_calls(tweets_service: StartedService, settings: Settings) -> AsyncIterator[CountCalls]:
    """`count_calls()`: from then on the running tweets app renders items through counting
    collaborators, with an empty author cache; returns the counter."""
    calls: Counter[str] = Counter()
    channel = open_channel(settings.userservice.grpc_target, "users", 5, settings.internal.service_token)
    wiring = wiring_of(tweets_service.app, TweetsWiring)
    original = wiring.items

    def start() -> Counter[str]:
        users: Any = CountingUsers(user_service_pb2_grpc.UserStub(channel), calls)
        wiring.items = CountingItems(calls, users, original._pool)
        return calls

    yield start
    wiring.items = original
    await channel.close(None)


async def test_a_page_is_hydrated_in_one_batch_of_calls(
    client: httpx.AsyncClient, accounts: AccountFactory, alice: Account, post: Post, count_calls: CountCalls
) -> None:
    authors = [await accounts() for _ in range(3)]
    for author in authors:
        for text in ("one", "two"):
            tweet = await post(client, author, text)
            assert (await client.post(f"/tweet/like/{tweet['id']}", headers=alice.headers)).status_code == 201
    counted = count_calls()

    likes = (await get(client, "/tweet/like", alice, limit=20))["likes"]
    assert len(likes) == 6
    assert {like["tweet"]["author"]["id"] for like in likes} == {str(author.id) for author in authors}
    assert counted == {"GetUsers": 1, "viewer_state": 1}

    counted.clear()
    await get(client, "/tweet/like", alice, limit=20)
    # Warm: the authors come from this process's cache; the viewer state is always asked for.
    assert counted == {"viewer_state": 1}

    counted.clear()
    await get(client, f"/tweet/user/{authors[0].id}", alice)
    # A user timeline is one author, cached here: no users call at all.
    assert counted == {"viewer_state": 1}


async def test_a_write_answer_is_rendered_in_one_batch(
    client: httpx.AsyncClient, accounts: AccountFactory, alice: Account, post: Post, count_calls: CountCalls
) -> None:
    author = await accounts()
    tweet = await post(client, author, "fresh")
    counted = count_calls()

    liked = await client.post(f"/tweet/like/{tweet['id']}", headers=alice.headers)
    assert liked.status_code == 201
    assert (liked.json()["tweet"]["liked_by_me"], liked.json()["tweet"]["reposted_by_me"]) == (True, False)
    # The caller's state is read in the like's transaction: after the commit only users is asked
    # (and a users outage leaves the names out), so a committed like is never answered 503.
    assert counted == {"GetUsers": 1}

    counted.clear()
    reposted = await client.post(f"/tweet/repost/{tweet['id']}", headers=alice.headers)
    assert (reposted.json()["tweet"]["liked_by_me"], reposted.json()["tweet"]["reposted_by_me"]) == (
        True,
        True,
    )
    edited = await client.patch(f"/tweet/{tweet['id']}", json={"content": "edited"}, headers=author.headers)
    assert edited.status_code == 200, edited.text
    assert (edited.json()["liked_by_me"], edited.json()["reposted_by_me"]) == (False, False)
    assert counted == {}

    counted.clear()
    assert (await client.post("/tweet", json={"content": "again"}, headers=author.headers)).status_code == 201
    # A new tweet: its author is cached now, and nobody can have liked or reposted it yet.
    assert counted == {}


async def test_an_authors_new_display_name_shows_once_announced(
    client: httpx.AsyncClient,
    accounts: AccountFactory,
    users_service: StartedService,
    settings: Settings,
    post: Post,
) -> None:
    carol = await accounts()
    tweet = await post(client, carol, "named")
    # Read once: carol is cached in the tweets process now.
    assert (await get(client, f"/tweet/{tweet['id']}"))["author"] == author_of(carol)
    renamed = await users_service.client.patch(
        "/users/me", json={"display_name": "Carol"}, headers=carol.headers
    )
    assert renamed.status_code == 200, renamed.text

    # What feed_worker does on user.update (feed/tests cover that step end to end): authors are
    # cached far longer than this wait, so only the announcement can make the name show.
    assert AUTHOR_TTL_SECONDS >= 60
    async with redis_client(settings.redis) as redis:
        await announce(redis, AUTHORS_STREAM, [str(carol.id)])

    async def shows() -> bool:
        return bool((await get(client, f"/tweet/{tweet['id']}"))["author"]["display_name"] == "Carol")

    await wait_for(shows, timeout=10)
