"""Objects of the REST contract that more than one service returns."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict

from fleet_proto import tweet_service_pb2


class TweetOut(BaseModel):
    """A tweet as every service shows it (tweets from its table, feed from tweets' gRPC reply)."""

    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    user_id: uuid.UUID
    content: str
    num_likes: int
    num_replys: int
    num_reposts: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_reply(cls, reply: tweet_service_pb2.TweetReply) -> TweetOut:
        return cls(
            id=uuid.UUID(reply.id),
            user_id=uuid.UUID(reply.user_id),
            content=reply.content,
            num_likes=reply.num_likes,
            num_replys=reply.num_replys,
            num_reposts=reply.num_reposts,
            created_at=reply.created_at.ToDatetime(tzinfo=UTC),
            updated_at=reply.updated_at.ToDatetime(tzinfo=UTC),
        )


def tweet_reply(tweet: Any) -> tweet_service_pb2.TweetReply:
    """The gRPC form of anything with a tweet's attributes (an ORM row, a Core row, a TweetOut)."""
    reply = tweet_service_pb2.TweetReply(
        id=str(tweet.id),
        user_id=str(tweet.user_id),
        content=tweet.content,
        num_likes=tweet.num_likes,
        num_replys=tweet.num_replys,
        num_reposts=tweet.num_reposts,
    )
    reply.created_at.FromDatetime(tweet.created_at)
    reply.updated_at.FromDatetime(tweet.updated_at)
    return reply


def tweet_json(reply: tweet_service_pb2.TweetReply) -> str:
    """A gRPC tweet as TweetOut's JSON, the same text pydantic writes, without building the model
    (feed renders every tweet its cache misses this way)."""
    return orjson.dumps(
        {
            "id": reply.id,
            "user_id": reply.user_id,
            "content": reply.content,
            "num_likes": reply.num_likes,
            "num_replys": reply.num_replys,
            "num_reposts": reply.num_reposts,
            "created_at": _utc_iso(reply.created_at),
            "updated_at": _utc_iso(reply.updated_at),
        }
    ).decode()


def _utc_iso(timestamp: Timestamp) -> str:
    # pydantic's form of an aware UTC datetime: ISO 8601, microseconds only when non-zero, "Z".
    return timestamp.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z")
