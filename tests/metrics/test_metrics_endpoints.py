"""Every process of the real fleet serves Prometheus text metrics that the client library parses,
and they move as requests and events flow; a dead letter shows in the DLQ gauge."""

from __future__ import annotations

import asyncio
import re

import grpc
import httpx
import pytest

from devtools.fleet import Fleet
from devtools.scrape import Samples, force_dead_letter, scrape, scrape_targets, value
from devtools.testing import register_and_login, wait_for
from fleet_proto import user_service_pb2, user_service_pb2_grpc

pytestmark = pytest.mark.e2e
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")


async def _scrape_all(fleet: Fleet) -> dict[str, Samples]:
    targets = scrape_targets(fleet.settings)
    results = await asyncio.gather(*(scrape(target) for target in targets.values()))
    return dict(zip(targets, results, strict=True))


async def test_every_process_serves_parsable_metrics_with_its_cpu_and_memory(metrics_fleet: Fleet) -> None:
    for job, samples in (await _scrape_all(metrics_fleet)).items():
        assert value(samples, "process_cpu_seconds_total") > 0, job
        assert value(samples, "process_resident_memory_bytes") > 10_000_000, job


async def test_a_multiprocess_service_reports_all_its_processes(metrics_fleet: Fleet) -> None:
    feed = scrape_targets(metrics_fleet.settings)["feed"]
    assert value(await scrape(feed), "service_processes") == 2
    # Requests land on either process (SO_REUSEPORT); every scrape sees the total of both.
    async with httpx.AsyncClient(base_url=f"http://{feed}", timeout=10) as client:
        before = value(await scrape(feed), "http_requests_total", route="/health")
        for _ in range(20):
            async with httpx.AsyncClient(base_url=f"http://{feed}", timeout=10) as fresh:  # new connections
                assert (await fresh.get("/health")).status_code == 200
        assert (await client.get("/health")).status_code == 200
    assert value(await scrape(feed), "http_requests_total", route="/health") - before == 21


async def test_counters_move_when_requests_and_events_flow(metrics_fleet: Fleet) -> None:
    settings = metrics_fleet.settings
    targets = scrape_targets(settings)
    before = await _scrape_all(metrics_fleet)
    urls = {job: f"http://{target}" for job, target in targets.items()}
    async with (
        httpx.AsyncClient(base_url=urls["users"], timeout=10) as users,
        httpx.AsyncClient(base_url=urls["tweets"], timeout=10) as tweets,
        httpx.AsyncClient(base_url=urls["feed"], timeout=10) as feed,
    ):
        author = await register_and_login(users)
        reader = await register_and_login(users)
        assert (await users.post(f"/users/{author.id}/follow", headers=reader.headers)).status_code == 201
        created = await tweets.post("/tweet", json={"content": "metrics flow"}, headers=author.headers)
        assert created.status_code == 201
        tweet_id = created.json()["id"]

        async def in_feed() -> bool:
            page = await feed.get("/feed", headers=reader.headers)
            return any(tweet["id"] == tweet_id for tweet in page.json()["tweets"])

        await wait_for(in_feed, timeout=20)
        assert (await feed.get("/feed", headers=reader.headers)).status_code == 200  # from the cache now
        assert (await feed.get("/no/such/route")).status_code == 404
    # A call without the service token is refused before any servicer, and counted with its code.
    async with grpc.aio.insecure_channel(settings.userservice.grpc_target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await user_service_pb2_grpc.UserStub(channel).GetUser(
                user_service_pb2.GetUserRequest(user_id=str(author.id)), timeout=5
            )
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

    async def moved(job: str, name: str, at_least: float = 1, **labels: str) -> None:
        async def check() -> bool:
            delta = value(await scrape(targets[job]), name, **labels) - value(before[job], name, **labels)
            return delta >= at_least

        await wait_for(check, timeout=20, interval=0.2)

    await moved("users", "http_requests_total", 2, method="POST", route="/register", status="201")
    await moved("users", "http_requests_total", method="POST", route="/users/{user_id}/follow", status="201")
    await moved("tweets", "http_requests_total", method="POST", route="/tweet", status="201")
    await moved("tweets", "http_request_duration_seconds_count", method="POST", route="/tweet")
    await moved("feed", "http_requests_total", 2, method="GET", route="/feed", status="200")
    await moved("feed", "http_requests_total", route="unmatched", status="404")
    await moved("feed", "feed_tweet_cache_lookups_total", result="miss")
    await moved("feed", "feed_tweet_cache_lookups_total", result="hit")
    await moved(
        "tweets", "grpc_server_handled_total", service="tweet_service.Tweet", method="GetTweets", code="OK"
    )
    await moved(
        "users", "grpc_server_handled_total", service="user_service.User", method="GetFollowers", code="OK"
    )
    await moved("feed_worker", "consumer_messages_total", queue="general_tweets", outcome="acked")
    await moved("feed_worker", "feed_fanout_deliveries_total", 2)  # the author's feed and the reader's
    await moved("feed_worker", "feed_fanout_duration_seconds_count")
    await moved("search_worker", "consumer_messages_total", queue="search_tweets", outcome="acked")
    await moved("search_worker", "search_index_lag_seconds_count", event_type="tweet.create")

    after = await _scrape_all(metrics_fleet)
    # The outbox gauges are sampled (every 0.5 s here): present, and the backlog drained.
    assert any(
        s.name == "outbox_backlog_rows" and s.labels["destination"] == "rabbitmq" for s in after["tweets"]
    )
    assert value(after["tweets"], "outbox_oldest_age_seconds", destination="rabbitmq") < 30
    # Route templates only: no label anywhere carries an id from a path.
    for job, samples in after.items():
        raw = {s.labels["route"] for s in samples if "route" in s.labels and UUID.search(s.labels["route"])}
        assert not raw, f"{job}: raw paths as labels: {raw}"


async def test_a_forced_dead_letter_raises_the_dlq_gauge(metrics_fleet: Fleet) -> None:
    worker = scrape_targets(metrics_fleet.settings)["feed_worker"]
    before = await scrape(worker)
    await force_dead_letter(metrics_fleet.settings, "general_tweets")

    async def dead_lettered() -> Samples | None:
        samples = await scrape(worker)
        grown = value(samples, "queue_dead_letters", queue="general_tweets") > value(
            before, "queue_dead_letters", queue="general_tweets"
        )
        return samples if grown else None

    samples = await wait_for(dead_lettered, timeout=20, interval=0.2)
    counted = value(samples, "consumer_messages_total", queue="general_tweets", outcome="dead_lettered")
    assert (
        counted
        == value(before, "consumer_messages_total", queue="general_tweets", outcome="dead_lettered") + 1
    )
