"""The worker continues the publisher's trace and records its Redis writes in a child span."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devtools.testing import wait_for
from shared.ids import uuid7
from shared.messaging.topology import TWEET_CREATE


async def test_fanout_span_joins_the_publishers_trace(kit: Any, finished_spans: InMemorySpanExporter) -> None:
    author, *followers = await kit.insert_users(4)
    await kit.insert_follows(author, followers)
    with trace.get_tracer("test").start_as_current_span("POST /tweet") as origin:
        await kit.publish_tweet(TWEET_CREATE, str(uuid7()), author)
    trace_id = origin.get_span_context().trace_id

    def fanout_spans() -> list[Any]:
        return [
            span
            for span in finished_spans.get_finished_spans()
            if span.name == "feed fanout" and span.context.trace_id == trace_id
        ]

    (fanout,) = await wait_for(fanout_spans, timeout=30)
    assert fanout.attributes["feed.followers"] == 3
    in_trace = {
        span.context.span_id: span
        for span in finished_spans.get_finished_spans()
        if span.context.trace_id == trace_id
    }
    assert in_trace[fanout.parent.span_id].name == "general_tweets process"
    children = [
        span.name
        for span in in_trace.values()
        if span.parent and span.parent.span_id == fanout.context.span_id
    ]
    # The author's feed (one script call, which also says whether the author is live), the author's
    # mode (follower count from users, big-authors), one follower page from users, then that page's
    # batch: one script call that also reads the accounts' last-seen times and who is live. Nobody
    # here has a stream, so the tweet is neither rendered for nor published to live streams.
    assert sorted(children) == [
        "/user_service.User/GetFollowers",
        "/user_service.User/GetUser",
        "EVALSHA",
        "EVALSHA",
        "SISMEMBER",
    ]
