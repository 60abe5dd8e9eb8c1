"""gRPC `feed_service.Feed`: the same feed pages as REST, for other services."""

from __future__ import annotations

import grpc

from feed.rendering import to_proto
from feed.service import DEFAULT_LIMIT, FeedService
from fleet_proto import feed_service_pb2 as pb
from fleet_proto import feed_service_pb2_grpc as pb_grpc
from shared.grpc.fields import parse_uuid

SERVICE_NAME = "feed_service.Feed"


class FeedServicer(pb_grpc.FeedServicer):
    def __init__(self, feed: FeedService) -> None:
        self._feed = feed

    async def GetFeed(self, request: pb.GetFeedRequest, context: grpc.aio.ServicerContext) -> pb.GetFeedReply:
        user_id = parse_uuid(request.user_id, "user_id")
        before = parse_uuid(request.before_id, "before_id") if request.before_id else None
        # proto3 cannot tell 0 from unset: a zero limit means the default page size.
        page = await self._feed.page(user_id, request.limit or DEFAULT_LIMIT, request.offset, before)
        return pb.GetFeedReply(
            tweets=[to_proto(tweet) for tweet in page.tweets],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
            has_more=page.has_more,
        )
