"""Rebuild the index from the tweets and users services: every tweet and every account, a page at
a time, in id order."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from fleet_proto import tweet_service_pb2 as pb
from fleet_proto import tweet_service_pb2_grpc as pb_grpc
from fleet_proto import user_service_pb2 as users_pb
from fleet_proto import user_service_pb2_grpc as users_grpc
from search.backends import IndexDocument, SearchBackend, UserDocument, create_backend, microseconds
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
        hashtags=tuple(tweet.entities.hashtags),
        mentions=tuple(mention.username.lower() for mention in tweet.entities.mentions),
    )


async def reindex(settings: Settings) -> tuple[int, int]:
    """Empty the index and fill it from tweets' ListTweets and users' ListUsers; returns how many
    tweets and accounts were indexed."""
    backend = create_backend(settings)
    try:
        return await _reindex_tweets(settings, backend), await _reindex_users(settings, backend)
    finally:
        await backend.close()


async def _reindex_users(settings: Settings, backend: SearchBackend) -> int:
    users = settings.userservice
    channel = open_channel(
        users.grpc_target, "users", users.grpc_timeout_seconds, settings.internal.service_token
    )
    try:
        stub = users_grpc.UserStub(channel)
        # Versioned by the time of each read: an account event later than it still wins.
        read_at = datetime.now(UTC)
        page = await stub.ListUsers(users_pb.ListUsersRequest(limit=settings.searchworker.batch_size))
        await backend.reset_users()
        indexed = 0
        while page.users:
            await backend.apply_users(
                [
                    UserDocument(
                        uuid.UUID(user.id),
                        user.username,
                        user.display_name,
                        user.num_followers,
                        microseconds(read_at),
                    )
                    for user in page.users
                ]
            )
            indexed += len(page.users)
            read_at = datetime.now(UTC)
            page = await stub.ListUsers(
                users_pb.ListUsersRequest(limit=settings.searchworker.batch_size, after_id=page.users[-1].id)
            )
        return indexed
    finally:
        await channel.close(None)


async def _reindex_tweets(settings: Settings, backend: SearchBackend) -> int:
    page_size = settings.searchworker.batch_size
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
