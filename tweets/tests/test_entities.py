"""Hashtags and mentions: parsed on write and on edit, stored, served and carried in the events."""

from __future__ import annotations

from typing import Any

import httpx

from devtools.testing import Account
from fleet_proto import tweet_service_pb2 as pb


def _mention(account: Account) -> dict[str, str]:
    return {"id": str(account.id), "username": account.username}


async def test_a_new_tweet_has_its_hashtags_and_the_accounts_it_mentions(
    client: httpx.AsyncClient, alice: Account, bob: Account, tweet_events: Any
) -> None:
    content = (
        f"#Café with @{bob.username.upper()} and @nobody_by_that_name, mail {bob.email}, "
        "a#b https://x.y/#frag #日本語 #café"
    )
    created = await client.post("/tweet", json={"content": content}, headers=alice.headers)
    assert created.status_code == 201, created.text
    expected = {"hashtags": ["café", "日本語"], "mentions": [_mention(bob)]}
    assert created.json()["entities"] == expected

    fetched = await client.get(f"/tweet/{created.json()['id']}")
    assert fetched.json()["entities"] == expected
    timeline = await client.get(f"/tweet/user/{alice.id}")
    assert timeline.json()["tweets"][0]["entities"] == expected
    [event] = await tweet_events.take(1)
    assert tweet_events.body(event)["entities"] == expected


async def test_text_without_marks_has_empty_entities(client: httpx.AsyncClient, alice: Account) -> None:
    created = await client.post("/tweet", json={"content": "plain words"}, headers=alice.headers)
    assert created.json()["entities"] == {"hashtags": [], "mentions": []}


async def test_an_edit_parses_the_text_again(
    client: httpx.AsyncClient, alice: Account, bob: Account, tweet_events: Any
) -> None:
    created = await client.post("/tweet", json={"content": "#old for @nobody_here"}, headers=alice.headers)
    tweet_id = created.json()["id"]
    edited = await client.patch(
        f"/tweet/{tweet_id}", json={"content": f"#new for @{bob.username}"}, headers=alice.headers
    )
    assert edited.json()["entities"] == {"hashtags": ["new"], "mentions": [_mention(bob)]}
    _, update = await tweet_events.take(2)
    assert tweet_events.body(update)["entities"] == {"hashtags": ["new"], "mentions": [_mention(bob)]}


async def test_get_tweets_carries_the_entities(
    client: httpx.AsyncClient, alice: Account, bob: Account, tweets_grpc: Any
) -> None:
    created = await client.post(
        "/tweet", json={"content": f"#grpc hi @{bob.username}"}, headers=alice.headers
    )
    reply = await tweets_grpc.GetTweets(pb.GetTweetsRequest(tweet_ids=[created.json()["id"]]), timeout=5)
    [tweet] = reply.tweets
    assert list(tweet.entities.hashtags) == ["grpc"]
    assert [(m.id, m.username) for m in tweet.entities.mentions] == [(str(bob.id), bob.username)]
