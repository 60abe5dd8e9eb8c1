"""What runs on a Redis Cluster beside the feed's store: the client built from `REDIS__CLUSTER=true`,
the rate limiter's windows and the tweet cache's multi-key drop."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from devtools.redis_cluster import REDIS_MODES, settings_for
from feed.tweetcache import TweetCache, tweet_key
from shared.errors import RateLimited
from shared.lifecycle import is_cluster, redis_client
from shared.ratelimit import RateLimiter
from shared.settings import RateLimitSettings, Settings

pytestmark = pytest.mark.parametrize("redis", REDIS_MODES, indirect=True)


async def test_the_configured_client_is_a_cluster_client_exactly_when_asked(
    redis: Redis, settings: Settings
) -> None:
    configured = settings_for(settings, redis).redis
    async with redis_client(configured) as client:
        assert is_cluster(client) == configured.cluster
        assert await client.ping()


async def test_rate_limit_windows_count_on_either(redis: Redis, settings: Settings) -> None:
    limiter = RateLimiter(settings_for(settings, redis).redis, RateLimitSettings())
    subject = str(uuid.uuid4())
    for _ in range(3):
        await limiter.hit("cluster-test", subject, per_minute=3)
    with pytest.raises(RateLimited):
        await limiter.hit("cluster-test", subject, per_minute=3)


async def test_cached_tweets_in_many_slots_are_filled_and_dropped_together(redis: Redis) -> None:
    cache = TweetCache(redis, ttl_seconds=60)
    ids = [str(uuid.uuid4()) for _ in range(50)]
    await cache.put_many({tweet_id: f'{{"id": "{tweet_id}"}}' for tweet_id in ids})
    assert await redis.exists(*(tweet_key(tweet_id) for tweet_id in ids)) == len(ids)
    await cache.drop(ids)
    assert await redis.exists(*(tweet_key(tweet_id) for tweet_id in ids)) == 0
