"""The overload step's load generator: the mixed workload, open loop, every answer sorted by what it
said — 2xx, 503 "overloaded" with Retry-After (overload said as overload), or anything else (other
statuses, "unavailable" 503s, timeouts, refused connections).

Run as `python -m bench.overload_agent` with a JSON task on stdin (bench.loadgen.run_agent);
prints one JSON result per step on stdout.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
import uvloop

from bench.driver import Mix, WeightedOperation, open_loop
from bench.ops_http import KINDS, client_session
from bench.words import sentence

OK = "2xx"
OVERLOADED = "503 overloaded + Retry-After"


def outcome(status: int, headers: Mapping[str, str], body: bytes) -> str:
    if 200 <= status < 300:
        return OK
    if status == 503 and "retry-after" in {name.lower() for name in headers} and b"overloaded" in body:
        return OVERLOADED
    # Otherwise the problem's detail says what the service thought happened (e.g. "redis is unavailable").
    try:
        detail = str(orjson.loads(body).get("detail", ""))[:60]
    except (orjson.JSONDecodeError, AttributeError):
        detail = body[:60].decode(errors="replace")
    return f"{status} {detail}".strip()


def classified_mix(session: aiohttp.ClientSession, plan: Mapping[str, Any], outcomes: Counter[str]) -> Mix:
    """bench.ops_http's mix, each answer counted in `outcomes`."""
    feed_url = f"{plan['feed_url']}/feed?limit=20"
    tweets_url = plan["tweets_url"]
    headers = [{"Authorization": f"Bearer {token}"} for token in plan["tokens"]]
    timeline_users: list[str] = plan["timeline_users"]
    pick = random.Random()

    async def request(method: str, url: str, **kwargs: Any) -> bool:
        try:
            async with session.request(method, url, **kwargs) as response:
                kind = outcome(response.status, response.headers, await response.read())
        except TimeoutError:
            kind = "client timeout"
        except aiohttp.ClientError as exc:
            kind = f"connection error ({type(exc).__name__})"
        outcomes[kind] += 1
        return kind == OK

    async def feed() -> bool:
        return await request("GET", feed_url, headers=pick.choice(headers))

    async def timeline() -> bool:
        return await request("GET", f"{tweets_url}/tweet/user/{pick.choice(timeline_users)}?limit=20")

    async def post() -> bool:
        body = {"content": sentence(pick, 8, 20)}
        return await request("POST", f"{tweets_url}/tweet", json=body, headers=pick.choice(headers))

    runs = {"feed": feed, "timeline": timeline, "post": post}
    weights: Mapping[str, float] = plan["weights"]
    return Mix(
        [WeightedOperation(kind, float(weights[kind]), runs[kind]) for kind in KINDS if kind in weights]
    )


async def steps(task: dict[str, Any]) -> dict[str, Any]:
    """One open-loop step per rate in task["rates"]; outcomes counted over the measured window only
    (the warm-up's answers are dropped with the counter reset at its end)."""
    results = []
    async with client_session(int(task.get("connections", 1024))) as session:
        for rate in task["rates"]:
            outcomes: Counter[str] = Counter()
            mix = classified_mix(session, task["plan"], outcomes)
            warmup = float(task["warmup"])
            loop = asyncio.get_running_loop()
            loop.call_later(warmup, outcomes.clear)
            recording = await open_loop(mix, float(rate), float(task["duration"]), warmup)
            summary = recording.summary()
            if recording.dropped:
                outcomes["not sent (generator behind)"] += recording.dropped
            answered = sum(outcomes.values())
            summary["outcomes"] = dict(outcomes.most_common())
            summary["goodput_rps"] = summary["rps"]
            summary["overloaded"] = outcomes[OVERLOADED]
            summary["other_errors"] = answered - outcomes[OK] - outcomes[OVERLOADED]
            results.append(summary)
    return {"steps": results}


def main() -> None:
    task: dict[str, Any] = orjson.loads(sys.stdin.buffer.read())
    result = uvloop.run(steps(task))
    sys.stdout.buffer.write(orjson.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
