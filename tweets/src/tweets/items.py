"""What makes a tweet served by tweets REST an item a client can draw: its author and the caller's
like and repost state (the contract's "Timeline items"), for a whole page at once.

A page costs at most one users `GetUsers` call, for the authors not cached, and one query for the
caller's likes and reposts among the page's ids (none without a token), made together. Authors are
cached in this process until they change, by the feed's cache (feed.authors, told by the `authors`
invalidation stream): a warm page asks users nothing, and a display-name change shows within
seconds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from feed.authors import AuthorCache
from feed.schemas import Author
from shared.db.raw import raw_connection
from tweets.models import ReplyTweet, TweetMark
from tweets.repository import ViewerState, viewer_state
from tweets.schemas import MarkItem, ReplyItem, TweetItem

if TYPE_CHECKING:
    from fleet_proto.user_service_pb2_grpc import UserAsyncStub


class TweetItems:
    def __init__(self, users: UserAsyncStub, pool: asyncpg.Pool, authors: AuthorCache | None = None) -> None:
        self._pool = pool
        self._authors = authors if authors is not None else AuthorCache(users)

    async def tweets(
        self, viewer_id: uuid.UUID | None, tweets: Sequence[Any], state: ViewerState | None = None
    ) -> list[TweetItem]:
        """Tweets (ORM rows or TweetRows) as items, in order; `state`: the viewer's likes and
        reposts among them when already read (a write's answer reads them in its transaction)."""
        if state is None:
            authors, (liked, reposted) = await asyncio.gather(
                self.authors(tweet.user_id for tweet in tweets),
                self.viewer_state(viewer_id, [tweet.id for tweet in tweets]),
            )
        else:
            authors, (liked, reposted) = await self.authors(tweet.user_id for tweet in tweets), state
        return [_tweet_item(tweet, authors, liked, reposted) for tweet in tweets]

    async def new_tweet(self, tweet: Any) -> TweetItem:
        """A tweet its author has just posted: nobody can have liked or reposted it yet, so only its
        author is asked for (POST /tweet is the hottest write; it skips the viewer-state query)."""
        return _tweet_item(tweet, await self.authors([tweet.user_id]), set(), set())

    async def replies(self, replies: Sequence[ReplyTweet]) -> list[ReplyItem]:
        """Replies as items. A reply cannot be liked or reposted (likes and reposts are of tweets),
        so its viewer state is false without asking."""
        authors = await self.authors(reply.user_id for reply in replies)
        return [
            ReplyItem(
                id=reply.id,
                parent_id=reply.parent_id,
                user_id=reply.user_id,
                content=reply.content,
                created_at=reply.created_at,
                updated_at=reply.updated_at,
                entities=reply.entities,
                author=authors[reply.user_id],
                liked_by_me=False,
                reposted_by_me=False,
            )
            for reply in replies
        ]

    async def marks(
        self,
        viewer_id: uuid.UUID,
        marks: Sequence[tuple[TweetMark, Any]],
        state: ViewerState | None = None,
    ) -> list[MarkItem]:
        """Likes or reposts with their tweets as items (one batch for the whole page)."""
        tweets = await self.tweets(viewer_id, [tweet for _, tweet in marks], state)
        return [
            MarkItem(user_id=mark.user_id, tweet_id=mark.tweet_id, created_at=mark.created_at, tweet=tweet)
            for (mark, _), tweet in zip(marks, tweets, strict=True)
        ]

    async def authors(self, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Author]:
        """The authors asked for (a deleted account has no names: its tweets are on their way out).
        While users cannot answer, the authors not cached come without names: a write that
        committed is answered as such, and a tweet that exists is served, rather than a 503."""
        wanted = {str(user_id): user_id for user_id in user_ids}
        found = await self._authors.of(wanted)
        return {
            user_id: Author.model_construct(
                id=user_id, username=found[key].username, display_name=found[key].display_name
            )
            for key, user_id in wanted.items()
        }

    async def viewer_state(self, viewer_id: uuid.UUID | None, tweet_ids: list[uuid.UUID]) -> ViewerState:
        """Which of the tweets the viewer liked and reposted: one query; nothing to ask anonymously."""
        if viewer_id is None or not tweet_ids:
            return set(), set()
        async with raw_connection(self._pool) as connection:
            return await viewer_state(connection, viewer_id, tweet_ids)


def _tweet_item(
    tweet: Any, authors: dict[uuid.UUID, Author], liked: set[uuid.UUID], reposted: set[uuid.UUID]
) -> TweetItem:
    return TweetItem(
        id=tweet.id,
        user_id=tweet.user_id,
        content=tweet.content,
        num_likes=tweet.num_likes,
        num_replys=tweet.num_replys,
        num_reposts=tweet.num_reposts,
        created_at=tweet.created_at,
        updated_at=tweet.updated_at,
        entities=tweet.entities,
        author=authors[tweet.user_id],
        liked_by_me=tweet.id in liked,
        reposted_by_me=tweet.id in reposted,
    )
