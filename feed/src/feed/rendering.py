"""The feed's JSON: tweets rendered once into the cache's form, pages joined from those texts.

Hand-written rather than pydantic models: joining the cached JSON took feed's CPU per read from 3.6 ms
to 0.51 ms in `make bench` (bench/FINDINGS.md, second round).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from google.protobuf.timestamp_pb2 import Timestamp

from fleet_proto import tweet_service_pb2


def tweet_json(reply: tweet_service_pb2.TweetReply) -> str:
    """A gRPC tweet as the REST JSON of a feed item (the same text pydantic writes for FeedTweet)."""
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
            "entities": _entities_json(reply.entities),
        }
    ).decode()


def to_proto(tweet_json_text: str) -> tweet_service_pb2.TweetReply:
    """A feed item's JSON back in its gRPC form (feed's own GetFeed answers with these)."""
    item = orjson.loads(tweet_json_text)
    reply = tweet_service_pb2.TweetReply(
        id=item["id"],
        user_id=item["user_id"],
        content=item["content"],
        num_likes=item["num_likes"],
        num_replys=item["num_replys"],
        num_reposts=item["num_reposts"],
    )
    reply.created_at.FromDatetime(_parse_utc(item["created_at"]))
    reply.updated_at.FromDatetime(_parse_utc(item["updated_at"]))
    # Copies cached before entities existed have none.
    entities = item.get("entities") or {}
    reply.entities.hashtags.extend(entities.get("hashtags", ()))
    reply.entities.mentions.extend(
        tweet_service_pb2.Mention(id=mention["id"], username=mention["username"])
        for mention in entities.get("mentions", ())
    )
    return reply


def _entities_json(entities: tweet_service_pb2.Entities) -> dict[str, Any]:
    return {
        "hashtags": list(entities.hashtags),
        "mentions": [{"id": mention.id, "username": mention.username} for mention in entities.mentions],
    }


def render_page(
    tweets: list[str], total: int, limit: int, offset: int, has_more: bool, next_cursor: str | None = None
) -> bytes:
    """A page as FeedResponse JSON: the tweets' cached JSON joined as they are, never re-parsed."""
    more = "true" if has_more else "false"
    # A cursor is a tweet id (a UUID's text): nothing in it needs escaping.
    cursor = "null" if next_cursor is None else f'"{next_cursor}"'
    return (
        f'{{"tweets":[{",".join(tweets)}],"total":{total},"limit":{limit},'
        f'"offset":{offset},"has_more":{more},"next_cursor":{cursor}}}'
    ).encode()


def _utc_iso(timestamp: Timestamp) -> str:
    # pydantic's form of an aware UTC datetime: ISO 8601, microseconds only when non-zero, "Z".
    return timestamp.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
