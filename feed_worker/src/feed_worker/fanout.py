"""What the worker does to the feeds for each event; every operation is idempotent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from opentelemetry import trace
from prometheus_client import Counter, Histogram

from feed.activity import LAST_SEEN_PREFIX, Activity
from feed.authorfeeds import AuthorFeeds
from feed.entries import FEED_LENGTH, entry_parts
from feed.feedstore import Audience, FeedStore
from feed.sources import FollowGraph, TweetSource
from feed_worker.live_updates import FeedLiveUpdates
from feed_worker.modes import AuthorModes
from notifications.live import PRESENCE_KEY
from shared.settings import FeedWorkerSettings

_tracer = trace.get_tracer("feed_worker")
FANOUT_DELIVERIES = Counter("feed_fanout_deliveries", "Feeds a new tweet was written into", ["event"])
FANOUT_DURATION = Histogram(
    "feed_fanout_duration_seconds",
    "Time to write one tweet into its author's and every follower's feed",
    ["event"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
FANOUT_SKIPPED = Counter("feed_fanout_inactive_skipped", "Feeds of inactive accounts fan-out left out")


class KeyedLocks:
    """One FIFO lock per key, dropped when nobody holds or waits for it.

    Messages are handled concurrently (prefetch); events about the same follower are applied one
    at a time in delivery order, so a quick follow + unfollow cannot interleave their reads and
    writes in this process. Across processes the follow handlers check the graph again after
    writing instead (FeedFanout.followed).
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class FeedFanout:
    """With `authors`, hybrid fan-out (feed.authorfeeds); with `activity`, inactive accounts'
    feeds are skipped (feed.activity). Without them every follower's feed is written."""

    def __init__(
        self,
        store: FeedStore,
        graph: FollowGraph,
        tweets: TweetSource,
        settings: FeedWorkerSettings,
        authors: AuthorFeeds | None = None,
        activity: Activity | None = None,
        live: FeedLiveUpdates | None = None,
    ) -> None:
        self._store = store
        self._live = live
        self._graph = graph
        self._tweets = tweets
        self._settings = settings
        self._authors = authors
        self._modes = (
            None
            if authors is None
            else AuthorModes(
                store, authors, graph, tweets, settings.fanout_max_followers, settings.backfill_limit
            )
        )
        self._activity = activity
        self._follower_locks = KeyedLocks()
        self._author_locks = KeyedLocks()

    async def _to_big_author_list(self, author_id: str, entry: str) -> bool:
        """For a big author: the entry pushed to their list; True if it stays the only delivery
        (False: not big, or no longer big after the push, so followers' feeds get it as usual)."""
        if self._modes is None or self._authors is None or not await self._modes.is_big(author_id):
            return False
        await self._authors.push(author_id, entry)
        return await self._authors.is_big(author_id)

    async def _deliver(self, tweet_id: str, page: list[str], skip_inactive: bool = True) -> None:
        """Write the tweet into the feeds of the page's active accounts (all of them without
        `skip_inactive`: the author's own) and tell the live ones."""
        if not self._store.checks_audience:  # a Redis Cluster: activity and presence asked apart
            active = await self._active(page) if skip_inactive else page
            await self._store.fan_out(tweet_id, active)
            await self._tell_added(tweet_id, active)
            return
        delivery = await self._store.deliver(tweet_id, page, self._audience(skip_inactive))
        if delivery.skipped:
            FANOUT_SKIPPED.inc(delivery.skipped)
        if self._live is not None:
            await self._live.tweet_added_live(tweet_id, delivery.live)

    def _audience(self, skip_inactive: bool = True) -> Audience:
        """What the fan-out scripts check per feed on one Redis server: activity and live streams."""
        return Audience(
            last_seen_prefix=LAST_SEEN_PREFIX,
            inactive_before=None
            if self._activity is None or not skip_inactive
            else self._activity.inactive_before(time.time()),
            presence_key=PRESENCE_KEY,
            live_since_ms=None if self._live is None else self._live.live_since_ms(),
        )

    async def _active(self, page: list[str]) -> list[str]:
        """The page without inactive accounts (their feed is rebuilt when they return)."""
        if self._activity is None:
            return page
        inactive = await self._activity.inactive_among(page)
        if not inactive:
            return page
        FANOUT_SKIPPED.inc(len(inactive))
        return [user_id for user_id in page if user_id not in inactive]

    async def tweet_created(self, tweet_id: str, author_id: str) -> int:
        """Insert the tweet into its author's feed and every follower's; returns the follower count."""
        # One author's tweets fan out one at a time, in arrival (≈ id) order: each then lands at the
        # head of every feed (the cheap path of the insert script) instead of racing its siblings
        # into the sorted-insert path. Redis is single-threaded, so running them at once gains nothing.
        async with self._author_locks.hold(author_id):
            with _tracer.start_as_current_span("feed fanout") as span:
                started = time.perf_counter()
                span.set_attribute("feed.tweet_id", tweet_id)
                await self._deliver(tweet_id, [author_id], skip_inactive=False)
                followers = 0
                if await self._to_big_author_list(author_id, tweet_id):
                    span.set_attribute("feed.big_author", True)
                    FANOUT_DURATION.labels("tweet.create").observe(time.perf_counter() - started)
                    return 0
                async for page in self._graph.follower_pages(author_id):
                    await self._deliver(tweet_id, page)
                    followers += len(page)
                span.set_attribute("feed.followers", followers)
                FANOUT_DELIVERIES.labels("tweet.create").inc(followers + 1)
                FANOUT_DURATION.labels("tweet.create").observe(time.perf_counter() - started)
                return followers

    async def tweet_deleted(self, tweet_id: str, author_id: str) -> int:
        """Remove the tweet from its author's feed and every follower's, and its repost entries from
        the reposters' and their followers' feeds; returns the author's follower count."""
        with _tracer.start_as_current_span("feed remove") as span:
            span.set_attribute("feed.tweet_id", tweet_id)
            # First, so that a fan-out of the same tweet still running elsewhere skips every feed after this.
            await self._store.mark_deleted(tweet_id)
            followers = await self._remove_everywhere(tweet_id, author_id)
            for entries in (await self._store.reposts_of([tweet_id])).values():
                for entry in entries:
                    await self._remove_everywhere(entry, entry_parts(entry)[1] or author_id)
            await self._store.forget_reposts_of(tweet_id)
            span.set_attribute("feed.followers", followers)
            return followers

    async def reposted(self, entry: str, reposter_id: str) -> int:
        """Put a repost entry into the reposter's feed and every follower's (where the tweet is not
        shown yet); returns the follower count."""
        async with self._author_locks.hold(reposter_id):
            with _tracer.start_as_current_span("feed repost fanout") as span:
                span.set_attribute("feed.entry", entry)
                if not await self._store.record_repost(entry):
                    return 0  # undone already (the unrepost was handled first)
                await self._store.fan_out_repost(entry, [reposter_id])
                followers = 0
                if await self._to_big_author_list(reposter_id, entry):
                    return 0
                async for page in self._graph.follower_pages(reposter_id):
                    if self._store.checks_audience:
                        delivery = await self._store.deliver_repost(entry, page, self._audience())
                        if delivery.skipped:
                            FANOUT_SKIPPED.inc(delivery.skipped)
                    else:  # a Redis Cluster: activity asked apart
                        await self._store.fan_out_repost(entry, await self._active(page))
                    followers += len(page)
                span.set_attribute("feed.followers", followers)
                return followers

    async def unreposted(self, entry: str, reposter_id: str) -> int:
        """Remove the entry a repost made, everywhere; returns the follower count."""
        with _tracer.start_as_current_span("feed unrepost") as span:
            span.set_attribute("feed.entry", entry)
            # First, as for a deleted tweet: a fan-out of this repost still running skips the rest.
            await self._store.mark_unreposted(entry)
            followers = await self._remove_everywhere(entry, reposter_id)
            span.set_attribute("feed.followers", followers)
            return followers

    async def _remove_everywhere(self, entry: str, owner_id: str) -> int:
        """Remove an entry from its owner's (author's or reposter's) feed, their big-author list and
        every follower's feed (entries from before they became big, or backfilled, stay there)."""
        tweet_id = entry_parts(entry)[0]
        await self._store.remove([entry], [owner_id])
        await self._tell_removed(tweet_id, [owner_id])
        if self._authors is not None:
            await self._authors.remove(owner_id, [entry])
        followers = 0
        async for page in self._graph.follower_pages(owner_id):
            await self._store.remove([entry], page)
            await self._tell_removed(tweet_id, page)
            followers += len(page)
        return followers

    async def _tell_added(self, tweet_id: str, user_ids: list[str]) -> None:
        if self._live is not None:
            await self._live.tweet_added(tweet_id, user_ids)

    async def _tell_removed(self, tweet_id: str, user_ids: list[str]) -> None:
        if self._live is not None:
            await self._live.tweet_removed(tweet_id, user_ids)

    async def followed(self, follower_id: str, following_id: str) -> int:
        """Backfill the followed account's recent tweets into the follower's feed; returns how many were read.

        Follow events can arrive out of order (a quick follow + unfollow), so each handler acts on the
        follow graph as it is now: the last event handled leaves the feed matching the final state.
        """
        async with self._follower_locks.hold(follower_id):
            if not await self._graph.is_following(follower_id, following_id):
                return 0
            backfilled = await self._backfill(follower_id, following_id)
            # The lock is per process: another worker may have handled an unfollow meanwhile, after
            # the check above but before this merge. Checking again after the write closes that gap
            # (that unfollow committed before its handler read the graph, so it shows here).
            if not await self._graph.is_following(follower_id, following_id):
                await self._remove_followed_tweets(follower_id, following_id)
                return 0
            return backfilled

    async def unfollowed(self, follower_id: str, following_id: str) -> int:
        """Remove the followed account's tweets from the follower's feed; returns how many entries went."""
        async with self._follower_locks.hold(follower_id):
            if await self._graph.is_following(follower_id, following_id):
                return 0  # followed again since: the feed keeps the followed account's tweets
            removed = await self._remove_followed_tweets(follower_id, following_id)
            # As in `followed`: a re-follow handled by another worker before this removal landed
            # would lose its backfill, so it is done again here.
            if await self._graph.is_following(follower_id, following_id):
                await self._backfill(follower_id, following_id)
            return removed

    async def _backfill(self, follower_id: str, following_id: str) -> int:
        limit = self._settings.backfill_limit
        ids = await self._tweets.recent_ids(following_id, limit)
        reposts = await self._tweets.recent_repost_entries(following_id, limit)
        with _tracer.start_as_current_span("feed backfill") as span:
            span.set_attribute("feed.tweets", len(ids))
            span.set_attribute("feed.reposts", len(reposts))
            await self._store.merge(follower_id, [*ids, *reposts])
        return len(ids) + len(reposts)

    async def _remove_followed_tweets(self, follower_id: str, following_id: str) -> int:
        # A feed holds at most FEED_LENGTH ids, so the followed account's newest FEED_LENGTH cover it.
        ids = await self._tweets.recent_ids(following_id, FEED_LENGTH)
        with _tracer.start_as_current_span("feed unfollow") as span:
            span.set_attribute("feed.tweets", len(ids))
            removed = await self._store.remove(ids, [follower_id])
            reposts = await self._store.remove_reposts_by(follower_id, following_id)
        await self._restore(follower_id, ids, reposts)
        return removed + len(reposts)

    async def _restore(self, follower_id: str, originals: list[str], reposts: list[str]) -> None:
        """A feed shows each tweet once, so an entry just removed may have stood in for a tweet the
        follower still sees another way: the original of an account they follow (a repost entry
        was there first), or a repost by one (the original was there first). Those come back."""
        reposted = [entry_parts(entry)[0] for entry in reposts]
        others = await self._store.reposts_of(list(dict.fromkeys([*originals, *reposted])))
        authors = await self._tweets.authors_of(reposted) if reposted else {}
        if not others and not authors:
            return
        following = await self._graph.following_set(follower_id)
        back = [tweet for tweet, author in authors.items() if author in following]
        back += [
            entry for entries in others.values() for entry in entries if entry_parts(entry)[1] in following
        ]
        if back:
            with _tracer.start_as_current_span("feed restore") as span:
                span.set_attribute("feed.entries", len(back))
                await self._store.merge(follower_id, back)
