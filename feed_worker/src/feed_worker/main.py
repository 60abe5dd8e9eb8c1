"""The feed-worker process: consumes general_tweets and feed_follows until stopped."""

from __future__ import annotations

import argparse
import asyncio
import functools

from feed.activity import Activity
from feed.authorfeeds import AuthorFeeds
from feed.authors import AUTHORS_STREAM
from feed.feedstore import FeedStore
from feed.sources import FollowGraph, TweetSource
from feed.tweetcache import TweetCache
from feed.viewers import ViewerCache
from feed_worker.fanout import FeedFanout
from feed_worker.handlers import FeedHandlers
from feed_worker.live_updates import FeedLiveUpdates
from fleet_proto import tweet_service_pb2_grpc, user_service_pb2_grpc
from notifications.live import LivePresence, LivePublisher
from shared.cli import load_settings_or_exit
from shared.grpc.channels import open_channel
from shared.invalidation import announce
from shared.lifecycle import redis_client
from shared.messaging.consumer import EventConsumer, Subscription
from shared.messaging.topology import FEED_FOLLOWS_QUEUE, FEED_TWEETS_QUEUE
from shared.runner import prepare_process, run_worker
from shared.settings import Settings

SERVICE = "feed-worker"


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Run the worker until `stop` is set (the process entry point, and in-process for tests)."""
    worker = settings.feedworker
    users_channel = open_channel(
        settings.userservice.grpc_target,
        "users",
        settings.userservice.grpc_timeout_seconds,
        settings.internal.service_token,
    )
    tweets_channel = open_channel(
        settings.tweetservice.grpc_target,
        "tweets",
        settings.tweetservice.grpc_timeout_seconds,
        settings.internal.service_token,
    )
    try:
        async with redis_client(settings.redis) as redis:
            tweets = tweet_service_pb2_grpc.TweetStub(tweets_channel)
            live = settings.notificationservice
            store = FeedStore(redis, batch_size=worker.redis_batch_size)
            fanout = FeedFanout(
                store,
                FollowGraph(user_service_pb2_grpc.UserStub(users_channel), worker.followers_page_size),
                TweetSource(tweets),
                worker,
                authors=AuthorFeeds(redis),
                activity=Activity(redis, worker.inactive_after_days),
                live=FeedLiveUpdates(
                    LivePublisher(
                        redis, worker.redis_batch_size, live.replay_seconds, live.replay_max_events
                    ),
                    tweets,
                    LivePresence(redis, live.replay_seconds),
                ),
            )
            handlers = FeedHandlers(
                fanout,
                TweetCache(redis),
                ViewerCache(redis),
                functools.partial(announce, redis, AUTHORS_STREAM),
            )
            consumer = EventConsumer(
                settings.rabbitmq.url.get_secret_value(),
                [
                    Subscription(FEED_TWEETS_QUEUE, handlers.on_tweet_event),
                    Subscription(FEED_FOLLOWS_QUEUE, handlers.on_follow_event),
                ],
                worker,
                SERVICE,
                settings.rabbitmq.queue_type,
            )
            try:
                await consumer.run(stop)
            finally:
                await store.close()
    finally:
        await users_channel.close(None)
        await tweets_channel.close(None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=SERVICE, description="Consume general_tweets and feed_follows.")
    parser.parse_args(argv)
    settings = load_settings_or_exit()
    prepare_process(SERVICE, settings)
    run_worker(lambda stop: run(settings, stop))


if __name__ == "__main__":
    main()
