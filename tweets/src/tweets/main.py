"""The tweets process: the app factory, its lifespan, and the entry point."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
from fastapi import FastAPI

from feed.authors import current_authors
from feed.client import FeedCacheClient
from fleet_proto import tweet_service_pb2_grpc, user_service_pb2_grpc
from shared.auth import TokenCodec
from shared.cli import ServiceSpec, service_main
from shared.db.engine import read_only_sessions
from shared.db.raw import raw_pool
from shared.grpc.channels import open_channel
from shared.grpc.server import service_grpc_server
from shared.http.app import create_app as create_service_app
from shared.http.writer_state import writer_readiness
from shared.lifecycle import background, database, redis_client
from shared.messaging.outbox import RABBITMQ, RelayWaker
from shared.messaging.publisher import RabbitPublisher
from shared.messaging.relay import OutboxRelay, rabbitmq_deliverer
from shared.ratelimit import RateLimiter
from shared.revocation import revocation_state
from shared.settings import Settings
from shared.wiring import install
from tweets import author_counters
from tweets.account_deletes import user_delete_consumer
from tweets.api import router
from tweets.blocks import BlockCheck
from tweets.deps import TweetsWiring
from tweets.entities import MentionResolver
from tweets.grpc_servicer import SERVICE_NAME, TweetServicer
from tweets.items import TweetItems
from tweets.service import TimelineReader, TweetComposer

SERVICE = "tweet-service"
ALEMBIC_DIR = Path(__file__).parent / "alembic"


def create_app(settings: Settings) -> FastAPI:
    section = settings.tweetservice
    users = settings.userservice

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            # Closed last (the stack unwinds in reverse), after the relays that use them have stopped.
            publisher = RabbitPublisher(
                settings.rabbitmq.url.get_secret_value(), settings.rabbitmq.queue_type
            )
            stack.push_async_callback(publisher.close)
            users_channel = open_channel(
                users.grpc_target, "users", users.grpc_timeout_seconds, settings.internal.service_token
            )
            stack.push_async_callback(users_channel.close, None)
            engine, sessions = await stack.enter_async_context(database(settings.database, section.database))
            pool = await stack.enter_async_context(raw_pool(settings.database, section.database))
            waker = RelayWaker(pool)
            stack.push_async_callback(waker.close)  # before the pool closes
            users_stub = user_service_pb2_grpc.UserStub(users_channel)
            mentions = MentionResolver(users_stub)
            redis = await stack.enter_async_context(redis_client(settings.redis))
            feed_cache = FeedCacheClient(redis)
            stack.push_async_callback(feed_cache.close)
            authors = await stack.enter_async_context(current_authors(users_stub, redis))
            listen_dsn = settings.database.dsn(section.database)
            events_relay = OutboxRelay(pool, listen_dsn, RABBITMQ, rabbitmq_deliverer(publisher))
            counters_relay = OutboxRelay(
                pool,
                listen_dsn,
                author_counters.DESTINATION,
                author_counters.increment_tweets_deliverer(users_stub),
            )
            revocations = await stack.enter_async_context(
                revocation_state(redis, settings.jwt.lifetime_seconds)
            )
            wiring = TweetsWiring(
                readiness=writer_readiness(engine, publisher, redis),
                background={relay.background_name: relay.state for relay in (events_relay, counters_relay)},
                token_codec=TokenCodec(settings.jwt),
                revocations=revocations,
                rate_limiter=RateLimiter(settings.redis, settings.ratelimit),
                sessions=sessions,
                read_sessions=read_only_sessions(sessions),
                composer=TweetComposer(pool, waker, mentions),
                timelines=TimelineReader(pool),
                feed_cache=feed_cache,
                block_check=BlockCheck(users_stub),
                mention_resolver=mentions,
                items=TweetItems(users_stub, pool, authors),
            )
            install(app, wiring)
            await publisher.declare_topology_early()

            def register(server: grpc.aio.Server) -> None:
                tweet_service_pb2_grpc.add_TweetServicer_to_server(
                    TweetServicer(wiring.read_sessions, wiring.timelines, wiring.items), server
                )

            await stack.enter_async_context(
                service_grpc_server(section, settings.internal.service_token, [SERVICE_NAME], register)
            )
            await stack.enter_async_context(background("outbox-events", events_relay.run))
            await stack.enter_async_context(background("outbox-user-counters", counters_relay.run))
            deletes = user_delete_consumer(settings.rabbitmq, sessions, feed_cache, SERVICE)
            await stack.enter_async_context(background("user-deletes", deletes.run))
            yield

    return create_service_app(title="tweets", routers=[router], lifespan=lifespan, http=settings.http)


SPEC = ServiceSpec(
    name=SERVICE,
    create_app=create_app,
    section=lambda settings: settings.tweetservice,
    database=lambda settings: settings.tweetservice.database,
    alembic_dir=ALEMBIC_DIR,
)


def main() -> None:
    service_main(SPEC)


if __name__ == "__main__":
    main()
