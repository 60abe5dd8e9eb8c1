"""What feeds are built from, read from the services that own it: follower and following pages
(users) and a user's newest tweet ids and repost entries (tweets). The worker fans out and backfills
with them; the feed service rebuilds an inactive reader's feed with them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from feed.entries import repost_entry
from fleet_proto import tweet_service_pb2, user_service_pb2

if TYPE_CHECKING:
    from fleet_proto.tweet_service_pb2_grpc import TweetAsyncStub
    from fleet_proto.user_service_pb2_grpc import UserAsyncStub

# The most ids asked for in one GetUserTweets call; the server may cap it lower, so pages continue.
USER_TWEETS_PAGE = 200
# Tweet ids per GetTweets call when asking whose tweets they are (tweets accepts up to 10,000).
AUTHORS_BATCH = 1000


class FollowGraph:
    """The follow graph as users gRPC serves it: GetFollowers and GetFollowing pages."""

    def __init__(self, users: UserAsyncStub, page_size: int) -> None:
        self._users = users
        self._page_size = page_size

    async def follower_pages(self, user_id: str) -> AsyncIterator[list[str]]:
        """The user's follower ids, a page at a time."""
        async for page in self._pages(self._users.GetFollowers, user_id):
            yield page

    async def following_pages(self, user_id: str) -> AsyncIterator[list[str]]:
        """The ids of the accounts the user follows, a page at a time."""
        async for page in self._pages(self._users.GetFollowing, user_id):
            yield page

    async def following_set(self, user_id: str) -> frozenset[str]:
        """Every account the user follows now."""
        return frozenset([account async for page in self.following_pages(user_id) for account in page])

    async def follower_count(self, user_id: str) -> int:
        """The user's follower count (the counter users keeps on the account)."""
        reply = await self._users.GetUser(user_service_pb2.GetUserRequest(user_id=user_id))
        return int(reply.num_followers)

    async def user_pages(self, page_size: int = 1000) -> AsyncIterator[list[str]]:
        """Every account id, in id order, a page at a time."""
        after = ""
        while True:
            reply = await self._users.ListUsers(
                user_service_pb2.ListUsersRequest(limit=page_size, after_id=after)
            )
            ids = [user.id for user in reply.users]
            if ids:
                yield ids
            if len(ids) < page_size:
                return
            after = ids[-1]

    async def is_following(self, follower_id: str, following_id: str) -> bool:
        """Whether the follow exists now."""
        reply = await self._users.IsFollowing(
            user_service_pb2.IsFollowingRequest(follower_id=follower_id, following_id=following_id)
        )
        return reply.following

    async def _pages(self, method: Any, user_id: str) -> AsyncIterator[list[str]]:
        """Each page is asked for before the previous one is yielded: a fan-out's writes of one page
        overlap users reading the next."""

        def ask(token: str) -> asyncio.Future[Any]:
            request = user_service_pb2.FollowPageRequest(
                user_id=user_id, page_size=self._page_size, page_token=token
            )
            return asyncio.ensure_future(method(request))

        pending = ask("")
        try:
            while True:
                reply = await pending
                if reply.next_page_token:
                    pending = ask(reply.next_page_token)
                if reply.user_ids:
                    yield list(reply.user_ids)
                if not reply.next_page_token:
                    return
        finally:
            # The caller stopped early (or failed): the page asked ahead is not wanted.
            if not pending.done():
                pending.cancel()
            elif not pending.cancelled():
                pending.exception()  # retrieved, so a failed read-ahead is not reported as unhandled


class TweetSource:
    """A user's tweet ids (GetUserTweets) and repost entries (GetUserReposts), newest first."""

    def __init__(self, tweets: TweetAsyncStub) -> None:
        self._tweets = tweets

    async def recent_ids(self, user_id: str, limit: int) -> list[str]:
        """Up to `limit` of the user's newest tweet ids, paging with before_id."""
        ids: list[str] = []
        before = ""
        while len(ids) < limit:
            want = min(USER_TWEETS_PAGE, limit - len(ids))
            reply = await self._tweets.GetUserTweets(
                tweet_service_pb2.GetUserTweetsRequest(user_id=user_id, limit=want, before_id=before)
            )
            page = [tweet.id for tweet in reply.tweets]
            ids.extend(page)
            if len(page) < want or not page:
                break
            before = page[-1]
        return ids[:limit]

    async def authors_of(self, tweet_ids: list[str]) -> dict[str, str]:
        """tweet id -> author id, for the tweets tweets still has."""
        authors: dict[str, str] = {}
        for start in range(0, len(tweet_ids), AUTHORS_BATCH):
            batch = tweet_ids[start : start + AUTHORS_BATCH]
            reply = await self._tweets.GetTweets(tweet_service_pb2.GetTweetsRequest(tweet_ids=batch))
            authors.update((tweet.id, tweet.user_id) for tweet in reply.tweets)
        return authors

    async def recent_repost_entries(self, user_id: str, limit: int) -> list[str]:
        """Up to `limit` of the user's newest reposts, as feed entries."""
        entries: list[str] = []
        before = ""
        while len(entries) < limit:
            want = min(USER_TWEETS_PAGE, limit - len(entries))
            reply = await self._tweets.GetUserReposts(
                tweet_service_pb2.GetUserRepostsRequest(user_id=user_id, limit=want, before_id=before)
            )
            entries.extend(repost_entry(r.id, r.tweet_id, r.user_id) for r in reply.reposts)
            if len(reply.reposts) < want:
                break
            before = reply.reposts[-1].id
        return entries[:limit]
