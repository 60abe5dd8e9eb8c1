"""gRPC feed_service.Feed/GetFeed over a real channel to the feed service's port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from devtools.testing import StartedService, wait_for
from fleet_proto import feed_service_pb2 as pb
from fleet_proto import feed_service_pb2_grpc as pb_grpc
from shared.errors import InvalidInput
from shared.grpc.channels import open_channel
from shared.settings import Settings


@pytest.fixture
async def feed_stub(settings: Settings, feed_service: StartedService) -> AsyncIterator[Any]:
    channel = open_channel(settings.feedservice.grpc_target, "feed", 5.0, settings.internal.service_token)
    yield pb_grpc.FeedStub(channel)
    await channel.close(None)


async def test_get_feed_pages_like_rest(people: Any, feed_stub: Any) -> None:
    user, headers = await people.user()
    posted = [(await people.post(headers, f"tweet {index}"))["id"] for index in range(3)]

    async def fanned_out() -> Any:
        reply = await feed_stub.GetFeed(pb.GetFeedRequest(user_id=user))
        return reply if reply.total == 3 else None

    everything = await wait_for(fanned_out, timeout=30)
    assert [tweet.id for tweet in everything.tweets] == list(reversed(posted))
    assert (everything.limit, everything.offset, everything.has_more) == (20, 0, False)

    page = await feed_stub.GetFeed(pb.GetFeedRequest(user_id=user, limit=1, before_id=posted[2]))
    assert [tweet.id for tweet in page.tweets] == [posted[1]]
    assert (page.offset, page.has_more) == (1, True)
    assert page.tweets[0].content == "tweet 1"


async def test_get_feed_with_a_bad_user_id_is_invalid_argument(feed_stub: Any) -> None:
    with pytest.raises(InvalidInput):
        await feed_stub.GetFeed(pb.GetFeedRequest(user_id="nope"))
    with pytest.raises(InvalidInput):
        await feed_stub.GetFeed(pb.GetFeedRequest(user_id="00000000-0000-0000-0000-000000000000", limit=101))
