"""A service or PostgreSQL going away: callers get clear 503 problem+json answers, work waiting on
the missing dependency is retried, and everything recovers without restarting the callers."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from devtools.testing import assert_problem, wait_for

if TYPE_CHECKING:
    from tests.faults.conftest import FaultyFleet

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


async def test_fanout_waits_for_users_and_completes_when_it_returns(fleet: FaultyFleet) -> None:
    author, reader = await fleet.account(), await fleet.account()
    await fleet.follow(reader, author)
    callers = {name: fleet.pid(name) for name in ("tweets", "feed_worker")}

    await fleet.kill("users")
    mark = fleet.log_mark()
    tweet = await fleet.post(author, "posted while users is down")
    await fleet.retried("general_tweets", since=mark)  # the worker cannot page the followers
    assert tweet["id"] not in await fleet.feed(reader.id)

    await fleet.restart("users")
    await wait_for(lambda: _holds(fleet, reader.id, tweet["id"]), timeout=30, interval=0.2)
    assert await fleet.feed(reader.id) == [tweet["id"]]
    assert await fleet.feed(author.id) == [tweet["id"]]

    async def counted() -> bool:
        response = await fleet.http["users"].get(f"/users/{author.id}")
        return response.status_code == 200 and response.json()["num_tweets"] == 1

    await wait_for(counted, timeout=30, interval=0.2)  # tweets' counter relay caught up too
    assert await fleet.dead_letters("general_tweets") == 0
    assert {name: fleet.pid(name) for name in callers} == callers


async def test_feed_answers_503_while_tweets_is_down_and_recovers_by_itself(fleet: FaultyFleet) -> None:
    reader = await fleet.account()
    tweet = await fleet.post(reader, "hydrate me")
    await wait_for(lambda: _holds(fleet, reader.id, tweet["id"]), timeout=30, interval=0.2)
    feed_pid = fleet.pid("feed")

    await fleet.kill("tweets")
    body = assert_problem(await fleet.http["feed"].get("/feed", headers=reader.headers), 503)
    assert "tweets" in body["detail"]
    ready = await fleet.http["feed"].get("/ready")
    assert ready.status_code == 503 and ready.json()["dependencies"]["tweets"] != "ok", ready.text

    await fleet.restart("tweets")

    async def hydrated() -> bool:
        response = await fleet.http["feed"].get("/feed", headers=reader.headers)
        return response.status_code == 200 and [t["id"] for t in response.json()["tweets"]] == [tweet["id"]]

    await wait_for(hydrated, timeout=30, interval=0.2)
    assert fleet.pid("feed") == feed_pid


async def test_feed_serves_authors_it_never_showed_without_names_while_users_is_down(
    fleet: FaultyFleet,
) -> None:
    reader, author, reposter, original = [await fleet.account() for _ in range(4)]
    await fleet.follow(reader, author)
    await fleet.follow(reader, reposter)
    first = await fleet.post(author, "shown before the outage")
    await wait_for(lambda: _holds(fleet, reader.id, first["id"]), timeout=30, interval=0.2)
    # The reader's hidden set and the author are cached now; `original` and `reposter` are not.
    assert (await fleet.http["feed"].get("/feed", headers=reader.headers)).status_code == 200
    tweet = await fleet.post(original, "reposted")
    reposted = await fleet.http["tweets"].post(f"/tweet/repost/{tweet['id']}", headers=reposter.headers)
    assert reposted.status_code == 201, reposted.text

    async def arrived() -> bool:
        return any(tweet["id"] in entry for entry in await fleet.feed(reader.id))

    await wait_for(arrived, timeout=30, interval=0.2)

    await fleet.kill("users")
    response = await fleet.http["feed"].get("/feed", headers=reader.headers)
    assert response.status_code == 200, response.text
    shown, kept = response.json()["tweets"]
    # The repost stays: an unknown reposter is not taken for a deleted account.
    assert (shown["id"], shown["reposted_by"]) == (tweet["id"], {"id": str(reposter.id), "username": None})
    assert shown["author"] == {"id": str(original.id), "username": None, "display_name": None}
    assert (kept["id"], kept["author"]["username"]) == (first["id"], author.username)

    await fleet.restart("users")

    async def named() -> bool:
        page = await fleet.http["feed"].get("/feed", headers=reader.headers)
        return page.status_code == 200 and page.json()["tweets"][0]["author"]["username"] == original.username

    # The nameless authors were not cached: the first read after the outage names them.
    await wait_for(named, timeout=30, interval=0.2)


async def test_postgresql_outage_gives_503s_everywhere_and_heals_without_restarts(fleet: FaultyFleet) -> None:
    author = await fleet.account()
    tweet = await fleet.post(author, "stored before the outage")
    await wait_for(lambda: _holds(fleet, author.id, tweet["id"]), timeout=30, interval=0.2)
    pids = {name: fleet.pid(name) for name in fleet.processes.children}
    users, tweets, feed, search = (fleet.http[name] for name in ("users", "tweets", "feed", "search"))
    requests = {
        "GET /users/me": lambda: users.get("/users/me", headers=author.headers),
        "POST /login": lambda: users.post(
            "/login", json={"username": author.username, "password": "hunter2hunter2"}
        ),
        "POST /register": lambda: users.post(
            "/register",
            json={
                "email": f"{uuid.uuid4().hex}@example.com",
                "username": uuid.uuid4().hex[:20],
                "password": "x" * 12,
            },
        ),
        "GET /tweet/{id}": lambda: tweets.get(f"/tweet/{tweet['id']}"),
        "POST /tweet": lambda: tweets.post("/tweet", json={"content": "lost?"}, headers=author.headers),
        "POST /tweet/like/{id}": lambda: tweets.post(f"/tweet/like/{tweet['id']}", headers=author.headers),
        "GET /feed": lambda: feed.get("/feed", headers=author.headers),
        "GET /search": lambda: search.get("/search", params={"q": "outage"}),
    }

    await fleet.cut("postgresql")
    for name, request in requests.items():
        response = await request()
        assert response.status_code == 503, f"{name}: {response.status_code} {response.text}"
        assert_problem(response, 503)
    for service in ("users", "tweets", "search"):
        ready = await fleet.http[service].get("/ready")
        assert ready.status_code == 503, f"{service} /ready: {ready.text}"
        assert "postgresql" in ready.json()["detail"] or "postgres" in ready.text

    await fleet.restore("postgresql")
    await fleet.wait_ready(timeout=30)
    for name, request in requests.items():
        response = await request()
        assert response.status_code < 300, f"{name} after the outage: {response.status_code} {response.text}"
    assert {name: fleet.pid(name) for name in pids} == pids, "nothing was restarted"


async def _holds(fleet: FaultyFleet, user_id: object, tweet_id: str) -> bool:
    return tweet_id in await fleet.feed(user_id)
