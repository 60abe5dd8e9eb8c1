"""The feed process: the app factory, its lifespan, and the entry point."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from fastapi import FastAPI
from grpc_health.v1 import health_pb2, health_pb2_grpc

from feed.api import router
from feed.feedstore import FeedStore
from feed.grpc_servicer import SERVICE_NAME, FeedServicer
from feed.items import FeedItems
from feed.service import FeedService
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

SERVICE = "feed-service"


def create_app(settings: Settings) -> FastAPI:
    section = settings.feedservice

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tweets_channel = open_channel(
            settings.tweetservice.grpc_target,
            "tweets",
            settings.tweetservice.grpc_timeout_seconds,
            settings.internal.service_token,
        )
        users_channel = open_channel(
            settings.userservice.grpc_target,
            "users",
            settings.userservice.grpc_timeout_seconds,
            settings.internal.service_token,
        )
        try:
            async with redis_client(settings.redis) as redis:
                store = FeedStore(redis)
                cache = TweetCache(redis, section.tweet_cache_ttl_seconds)
                tweets = tweet_service_pb2_grpc.TweetStub(tweets_channel)
                items = FeedItems(user_service_pb2_grpc.UserStub(users_channel), tweets, ViewerCache(redis))
                feed = FeedService(store, cache, tweets, items)
                app.state.feed_service = feed
                app.state.redis = redis
                app.state.token_codec = TokenCodec(settings.jwt)
                app.state.readiness = [
                    ReadinessCheck("redis", store.ping),
                    ReadinessCheck("tweets", lambda: _serving(tweets_channel)),
                ]

                def register(server: grpc.aio.Server) -> None:
                    feed_service_pb2_grpc.add_FeedServicer_to_server(FeedServicer(feed), server)

                async with (
                    revocation_state(app, redis, settings.jwt.lifetime_seconds),
                    service_grpc_server(
                        section, settings.internal.service_token, [SERVICE_NAME], register
                    ) as grpc_,
                ):
                    app.state.grpc_port = grpc_.port
                    yield
        finally:
            await tweets_channel.close(None)
            await users_channel.close(None)

    return create_service_app(title="feed", routers=[router], lifespan=lifespan, http=settings.http)


async def _serving(channel: grpc.aio.Channel) -> None:
    """The tweets server answers its gRPC health check with SERVING."""
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        raise DependencyUnavailable("tweets is not serving", dependency="tweets")


SPEC = ServiceSpec(name=SERVICE, create_app=create_app, section=lambda settings: settings.feedservice)


def main() -> None:
    service_main(SPEC)


if __name__ == "__main__":
    main()
