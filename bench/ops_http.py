"""The fleet's requests as load operations: GET /feed, GET /tweet/user/{id}, POST /tweet."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import aiohttp

from bench.driver import Mix, WeightedOperation
from bench.words import sentence

# What a request mix may hold; weights come from the plan (e.g. DeathStarBench's 60/30/10).
KINDS = ("feed", "timeline", "post")


def http_mix(session: aiohttp.ClientSession, plan: Mapping[str, Any]) -> Mix:
    feed_url = f"{plan['feed_url']}/feed?limit=20"
    tweets_url = plan["tweets_url"]
    headers = [{"Authorization": f"Bearer {token}"} for token in plan["tokens"]]
    timeline_users: list[str] = plan["timeline_users"]
    pick = random.Random()

    async def feed() -> bool:
        async with session.get(feed_url, headers=pick.choice(headers)) as response:
            await response.read()
            return response.status == 200

    async def timeline() -> bool:
        url = f"{tweets_url}/tweet/user/{pick.choice(timeline_users)}?limit=20"
        async with session.get(url) as response:
            await response.read()
            return response.status == 200

    async def post() -> bool:
        body = {"content": sentence(pick, 8, 20)}
        async with session.post(f"{tweets_url}/tweet", json=body, headers=pick.choice(headers)) as response:
            await response.read()
            return response.status == 201

    runs = {"feed": feed, "timeline": timeline, "post": post}
    weights: Mapping[str, float] = plan["weights"]
    return Mix(
        [WeightedOperation(kind, float(weights[kind]), runs[kind]) for kind in KINDS if kind in weights]
    )


def client_session(connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections, ttl_dns_cache=3600)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10))
