"""One POST /tweet yields one trace that reaches the feed worker's Redis writes."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devtools.testing import wait_for


async def test_post_tweet_trace_reaches_the_feed_fanout(
    people: Any, finished_spans: InMemorySpanExporter
) -> None:
    author, headers = await people.user()
    _, follower_headers = await people.user()
    await people.follow(follower_headers, author)
    await people.post(headers, "traced")
    (request,) = [
        span
        for span in finished_spans.get_finished_spans()
        if span.name == "POST /tweet" and span.parent is None
    ]

    def fanout() -> list[Any]:
        return [
            span
            for span in finished_spans.get_finished_spans()
            if span.name == "feed fanout" and span.context.trace_id == request.context.trace_id
        ]

    (span,) = await wait_for(fanout, timeout=30)
    assert span.attributes["feed.followers"] == 1
