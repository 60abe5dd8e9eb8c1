"""gRPC `tweet_service.Tweet`: hydration for the feed, keyset pages for backfill and reindexing."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet_proto import tweet_service_pb2 as pb
from fleet_proto import tweet_service_pb2_grpc as pb_grpc
from shared.db.engine import transaction
from shared.errors import InvalidInput
from shared.grpc.fields import parse_uuid
from tweets.items import TweetItems
from tweets.service import TimelineReader, TweetService

SERVICE_NAME = "tweet_service.Tweet"
MAX_BATCH = 10_000
MAX_PAGE = 1_000
DEFAULT_USER_PAGE = 20
DEFAULT_LIST_PAGE = 500


def to_proto(tweet: Any) -> pb.TweetReply:
    """The gRPC form of anything with a tweet's attributes (an ORM row, a Core row, a TweetRow)."""
    reply = pb.TweetReply(
        id=str(tweet.id),
        user_id=str(tweet.user_id),
        content=tweet.content,
        num_likes=tweet.num_likes,
        num_replys=tweet.num_replys,
        num_reposts=tweet.num_reposts,
    )
    reply.created_at.FromDatetime(tweet.created_at)
    reply.updated_at.FromDatetime(tweet.updated_at)
    reply.entities.hashtags.extend(tweet.hashtags or ())
    reply.entities.mentions.extend(
        pb.Mention(id=str(mention_id), username=username)
        for mention_id, username in zip(tweet.mention_ids or (), tweet.mention_usernames or (), strict=False)
    )
    return reply


def parse_optional_uuid(value: str, field: str) -> uuid.UUID | None:
    return parse_uuid(value, field) if value else None


def page_size(limit: int, default: int) -> int:
    """0 (unset) means the default; above MAX_PAGE is capped; negative is refused."""
    if limit < 0:
        raise InvalidInput("limit must not be negative")
    return min(limit or default, MAX_PAGE)


def _valid_ids(values: list[str]) -> list[uuid.UUID]:
    """The ids that parse, in the order given; the others cannot match a tweet and are left out."""
    ids = []
    for value in values:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    return ids


class TweetServicer(pb_grpc.TweetServicer):
    def __init__(
        self, read_sessions: async_sessionmaker[AsyncSession], timelines: TimelineReader, items: TweetItems
    ) -> None:
        # Every RPC here is one read: autocommit sessions, no transaction needed.
        self._sessions = read_sessions
        self._timelines = timelines
        self._items = items

    async def GetTweets(
        self, request: pb.GetTweetsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTweetsReply:
        """The tweets asked for, in the order asked, in one query; missing or invalid ids left out."""
        if len(request.tweet_ids) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} tweet ids per call")
        ids = _valid_ids(list(request.tweet_ids))
        async with transaction(self._sessions) as session:
            found = {tweet.id: tweet for tweet in await TweetService(session).get_many(list(set(ids)))}
        return pb.GetTweetsReply(tweets=[to_proto(found[i]) for i in ids if i in found])

    async def GetUserTweets(
        self, request: pb.GetUserTweetsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTweetsReply:
        """A user's tweets newest first, strictly older than before_id when given."""
        user_id = parse_uuid(request.user_id, "user_id")
        before = parse_optional_uuid(request.before_id, "before_id")
        limit = page_size(request.limit, DEFAULT_USER_PAGE)
        tweets = await self._timelines.user_tweets_before(user_id, before, limit)
        return pb.GetTweetsReply(tweets=[to_proto(tweet) for tweet in tweets])

    async def ListTweets(
        self, request: pb.ListTweetsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTweetsReply:
        """Every tweet in id (creation) order, strictly after after_id when given."""
        after = parse_optional_uuid(request.after_id, "after_id")
        limit = page_size(request.limit, DEFAULT_LIST_PAGE)
        async with transaction(self._sessions) as session:
            tweets = await TweetService(session).tweets_after(after, limit)
        return pb.GetTweetsReply(tweets=[to_proto(tweet) for tweet in tweets])

    async def GetUserReposts(
        self, request: pb.GetUserRepostsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUserRepostsReply:
        """A user's reposts newest first, strictly older than before_id (a repost id) when given."""
        user_id = parse_uuid(request.user_id, "user_id")
        before = parse_optional_uuid(request.before_id, "before_id")
        limit = page_size(request.limit, DEFAULT_USER_PAGE)
        async with transaction(self._sessions) as session:
            reposts = await TweetService(session).reposts_before(user_id, before, limit)
        return pb.GetUserRepostsReply(
            reposts=[
                pb.Repost(id=str(repost.id), tweet_id=str(repost.tweet_id), user_id=str(repost.user_id))
                for repost in reposts
            ]
        )

    async def GetViewerState(
        self, request: pb.GetViewerStateRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetViewerStateReply:
        """Which of the tweets the user liked and reposted (invalid ids match nothing)."""
        user_id = parse_uuid(request.user_id, "user_id")
        if len(request.tweet_ids) > MAX_PAGE:
            raise InvalidInput(f"at most {MAX_PAGE} tweet ids per call")
        ids = list(set(_valid_ids(list(request.tweet_ids))))
        # The same one statement as REST's tweet items (tweets.repository.viewer_state).
        liked, reposted = await self._items.viewer_state(user_id, ids)
        return pb.GetViewerStateReply(
            liked_ids=[str(i) for i in liked], reposted_ids=[str(i) for i in reposted]
        )
