"""The feed process: the app factory, its lifespan, and the entry point."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import grpc
from fastapi import FastAPI
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis

from feed.activity import Activity
from feed.api import router
from feed.authorfeeds import AuthorFeeds
from feed.authors import current_authors
from feed.bigfollows import FollowedBigAuthors
from feed.deps import FeedWiring
from feed.feedstore import FeedStore
from feed.grpc_servicer import SERVICE_NAME, FeedServicer
from feed.items import FeedItems
from feed.merged import MergedFeeds
from feed.pages import FeedPages
from feed.rebuild import FeedRebuilder, ReturningReaders
from feed.rebuild_cli import rebuild_main
from feed.service import FeedService, HybridReads
from feed.sources import FollowGraph, TweetSource
from feed.tweetcache import TweetCache
from feed.viewers import ViewerCache
from fleet_proto import feed_service_pb2_grpc, tweet_service_pb2_grpc, user_service_pb2_grpc
from shared.auth import TokenCodec
from shared.cli import ServiceSpec, service_main
from shared.errors import DependencyUnavailable
from shared.grpc.channels import open_channel
from shared.grpc.server import service_grpc_server
from shared.http.app import create_app as create_service_app
from shared.http.readiness import ReadinessCheck
from shared.lifecycle import redis_client
from shared.revocation import revocation_state
from shared.settings import Settings
from shared.wiring import install

if TYPE_CHECKING:
    from fleet_proto.tweet_service_pb2_grpc import TweetAsyncStub
    from fleet_proto.user_service_pb2_grpc import UserAsyncStub

SERVICE = "feed-service"


def create_app(settings: Settings) -> FastAPI:
    section = settings.feedservice

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            tweets_channel = open_channel(
                settings.tweetservice.grpc_target,
                "tweets",
                settings.tweetservice.grpc_timeout_seconds,
                settings.internal.service_token,
            )
            stack.push_async_callback(tweets_channel.close, None)
            users_channel = open_channel(
                settings.userservice.grpc_target,
                "users",
                settings.userservice.grpc_timeout_seconds,
                settings.internal.service_token,
            )
            stack.push_async_callback(users_channel.close, None)
            redis = await stack.enter_async_context(redis_client(settings.redis))
            store = FeedStore(redis)
            cache = TweetCache(redis, section.tweet_cache_ttl_seconds)
            tweets = tweet_service_pb2_grpc.TweetStub(tweets_channel)
            users = user_service_pb2_grpc.UserStub(users_channel)
            authors = await stack.enter_async_context(current_authors(users, redis))
            items = FeedItems(users, tweets, ViewerCache(redis), authors)
            feed = FeedService(
                FeedPages(redis), cache, tweets, items, hybrid_reads(settings, redis, store, users, tweets)
            )
            revocations = await stack.enter_async_context(
                revocation_state(redis, settings.jwt.lifetime_seconds)
            )
            install(
                app,
                FeedWiring(
                    readiness=[
                        ReadinessCheck("redis", store.ping),
                        ReadinessCheck("tweets", lambda: _serving(tweets_channel)),
                    ],
                    token_codec=TokenCodec(settings.jwt),
                    revocations=revocations,
                    feed=feed,
                    items=items,
                    redis=redis,
                ),
            )

            def register(server: grpc.aio.Server) -> None:
                feed_service_pb2_grpc.add_FeedServicer_to_server(FeedServicer(feed), server)

            await stack.enter_async_context(
                service_grpc_server(section, settings.internal.service_token, [SERVICE_NAME], register)
            )
            yield

    return create_service_app(title="feed", routers=[router], lifespan=lifespan, http=settings.http)


def hybrid_reads(
    settings: Settings, redis: Redis, store: FeedStore, users: UserAsyncStub, tweets: TweetAsyncStub
) -> HybridReads:
    worker = settings.feedworker
    graph = FollowGraph(users, worker.followers_page_size)
    rebuilder = FeedRebuilder(store, graph, TweetSource(tweets), worker.backfill_limit)
    return HybridReads(
        big_authors=FollowedBigAuthors(AuthorFeeds(redis), graph),
        merged=MergedFeeds(redis),
        returning=ReturningReaders(Activity(redis, worker.inactive_after_days), rebuilder),
    )


async def _serving(channel: grpc.aio.Channel) -> None:
    """The tweets server answers its gRPC health check with SERVING."""
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        raise DependencyUnavailable("tweets is not serving", dependency="tweets")


SPEC = ServiceSpec(name=SERVICE, create_app=create_app, section=lambda settings: settings.feedservice)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["rebuild"]:
        rebuild_main(args[1:])
    else:
        service_main(SPEC, args)


if __name__ == "__main__":
    main()
