"""The two sizes of a benchmark run: the full one (`make bench`) and the smoke run (`--quick`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    # The social graph: `users` accounts, one author followed by `celebrity_followers` of them, and
    # everyone else following on average `mean_following` accounts picked by a power law.
    users: int
    celebrity_followers: int
    mean_following: int
    tweets: int
    celebrity_tweets: int
    repetitions: int
    # Closed-loop load levels (concurrent connections) of the feed-read sweep, and how long each lasts.
    feed_concurrency: tuple[int, ...]
    step_seconds: float
    # Fan-out: tweets of the celebrity delivered per repetition.
    fanout_tweets: int
    # Tweet-to-feed and search lag: posts per repetition.
    latency_posts: int
    # Compose: closed-loop POST /tweet for this long (at most compose_max_requests) per repetition.
    compose_seconds: float
    compose_concurrency: int
    compose_max_requests: int
    publish_messages: int
    # Mixed workload: open-loop steps of this length.
    mixed_step_seconds: float
    mixed_max_steps: int
    profile_seconds: float
    # Discovery: accounts in the user index, tweets in the trend rows, tweets the worker indexes.
    search_profiles: int
    tagged_tweets: int
    indexed_tweets: int
    # Past one machine: the synthetic author's followers (loaded with COPY), its tweets whose worker
    # cost is read, its sequential posts per run and the sampled followers who read it afterwards.
    big_author_followers: int
    big_author_tweets: int
    big_author_posts: int
    big_author_readers: int
    # Feed reads merged with big authors' lists: how many big authors each reader follows, how many
    # readers (as many again read plainly), and each big author's tweets.
    merged_authors: int
    merged_readers: int
    merged_author_tweets: int
    # Fan-out on the local Redis Cluster beside the single server: feeds and tweets (then reposts).
    cluster_fanout_feeds: int
    cluster_fanout_tweets: int


FULL = Profile(
    name="full",
    users=12_000,
    celebrity_followers=10_000,
    mean_following=20,
    tweets=100_000,
    celebrity_tweets=300,
    repetitions=3,
    feed_concurrency=(1, 2, 4, 8, 16, 32, 64),
    step_seconds=4.0,
    fanout_tweets=20,
    latency_posts=30,
    compose_seconds=5.0,
    compose_concurrency=32,
    compose_max_requests=20_000,
    publish_messages=5_000,
    mixed_step_seconds=5.0,
    mixed_max_steps=7,
    profile_seconds=8.0,
    search_profiles=100_000,
    tagged_tweets=50_000,
    indexed_tweets=5_000,
    big_author_followers=1_000_000,
    big_author_tweets=300,
    big_author_posts=100,
    big_author_readers=20,
    merged_authors=20,
    merged_readers=500,
    merged_author_tweets=50,
    cluster_fanout_feeds=10_000,
    cluster_fanout_tweets=20,
)

QUICK = Profile(
    name="quick",
    users=2_000,
    celebrity_followers=1_500,
    mean_following=12,
    tweets=12_000,
    celebrity_tweets=100,
    repetitions=1,
    feed_concurrency=(1, 4, 16),
    step_seconds=2.0,
    fanout_tweets=10,
    latency_posts=8,
    compose_seconds=2.0,
    compose_concurrency=16,
    compose_max_requests=4_000,
    publish_messages=1_000,
    mixed_step_seconds=2.0,
    mixed_max_steps=4,
    profile_seconds=4.0,
    search_profiles=10_000,
    tagged_tweets=5_000,
    indexed_tweets=1_000,
    big_author_followers=100_000,
    big_author_tweets=100,
    big_author_posts=30,
    big_author_readers=5,
    merged_authors=20,
    merged_readers=100,
    merged_author_tweets=25,
    cluster_fanout_feeds=1_500,
    cluster_fanout_tweets=10,
)
