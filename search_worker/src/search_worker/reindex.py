"""Rebuild the index from the tweets service: every tweet, a page at a time, in id order."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC

from fleet_proto import tweet_service_pb2 as pb
from fleet_proto import tweet_service_pb2_grpc as pb_grpc
from search.backends import IndexDocument, create_backend, microseconds
from shared.grpc.channels import open_channel
from shared.settings import Settings

logger = logging.getLogger(__name__)


def document_from_tweet(tweet: pb.TweetReply) -> IndexDocument:
    """The document of a live tweet, versioned like the events of its last change."""
    created_at = tweet.created_at.ToDatetime(tzinfo=UTC)
    updated_at = tweet.updated_at.ToDatetime(tzinfo=UTC) if tweet.HasField("updated_at") else created_at
    return IndexDocument(
        id=uuid.UUID(tweet.id),
        user_id=uuid.UUID(tweet.user_id),
        content=tweet.content.replace("\x00", ""),
        created_at=created_at,
        version=microseconds(updated_at),
    )


async def reindex(settings: Settings) -> int:
    """Empty the index and fill it from tweets' ListTweets; returns how many tweets were indexed."""
    page_size = settings.searchworker.batch_size
    backend = create_backend(settings)
    channel = open_channel(
        settings.tweetservice.grpc_target,
        "tweets",
        settings.tweetservice.grpc_timeout_seconds,
        settings.internal.service_token,
    )
    try:
        tweets = pb_grpc.TweetStub(channel)
        # The first page is fetched before the reset: if tweets is down, the index stays as it was.
        page = await tweets.ListTweets(pb.ListTweetsRequest(limit=page_size))
        await backend.reset()
        indexed = 0
        while page.tweets:
            await backend.apply([document_from_tweet(tweet) for tweet in page.tweets])
            indexed += len(page.tweets)
            logger.info("reindex: %d tweets indexed", indexed)
            # Stop only on an empty page: the server may cap the page below page_size.
            page = await tweets.ListTweets(pb.ListTweetsRequest(limit=page_size, after_id=page.tweets[-1].id))
        return indexed
    finally:
        await channel.close(None)
        await backend.close()
