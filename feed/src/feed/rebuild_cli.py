"""`feed rebuild --user <id>` / `feed rebuild --all`: rebuild feeds from the source of truth (users'
follow graph, tweets' recent tweets), at most `--rate` feeds a second, with a progress bar."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import TextIO

from feed.feedstore import FeedStore
from feed.rebuild import FeedRebuilder
from feed.sources import FollowGraph, TweetSource
from fleet_proto import tweet_service_pb2_grpc, user_service_pb2_grpc
from shared.cli import load_settings_or_exit
from shared.grpc.channels import open_channel
from shared.lifecycle import redis_client
from shared.runner import prepare_process
from shared.settings import Settings

PROG = "feed rebuild"


class Progress:
    """A one-line progress bar on a terminal (plain lines elsewhere, e.g. a Kubernetes Job's log)."""

    WIDTH = 30

    def __init__(self, total: int | None, out: TextIO = sys.stderr) -> None:
        self._total = total
        self._out = out
        self._started = time.monotonic()
        self._tty = out.isatty()
        self._last = 0.0

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < (0.2 if self._tty else 5.0):
            return
        self._last = now
        rate = done / max(now - self._started, 1e-9)
        if self._total:
            filled = self.WIDTH * done // self._total
            bar = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{self._total}"
        else:
            bar = f"{done}"
        line = f"{bar} feeds, {rate:.1f}/s"
        self._out.write(f"\r{line}" if self._tty else f"{line}\n")
        if final and self._tty:
            self._out.write("\n")
        self._out.flush()


class RateLimit:
    """At most `per_second` starts a second (none: unlimited), evenly spaced."""

    def __init__(self, per_second: float | None) -> None:
        self._interval = 1.0 / per_second if per_second else 0.0
        self._next = time.monotonic()

    async def wait(self) -> None:
        if not self._interval:
            return
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(self._next, now) + self._interval


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Rebuild feeds from the follow graph and recent tweets."
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--user", type=uuid.UUID, action="append", help="a user id (repeatable)")
    which.add_argument("--all", action="store_true", help="every account")
    parser.add_argument("--rate", type=float, default=50.0, help="feeds per second at most (0: no limit)")
    parser.add_argument("--concurrency", type=int, default=4, help="feeds rebuilt at once")
    return parser.parse_args(argv)


async def rebuild(settings: Settings, args: argparse.Namespace, out: TextIO = sys.stderr) -> int:
    """Rebuild the chosen feeds; returns how many were rebuilt."""
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
            graph = FollowGraph(
                user_service_pb2_grpc.UserStub(users_channel), settings.feedworker.followers_page_size
            )
            rebuilder = FeedRebuilder(
                FeedStore(redis),
                graph,
                TweetSource(tweet_service_pb2_grpc.TweetStub(tweets_channel)),
                settings.feedworker.backfill_limit,
            )
            users = [str(user) for user in args.user] if args.user else None
            return await _run(rebuilder, _ids(graph, users), len(users) if users else None, args, out)
    finally:
        await users_channel.close(None)
        await tweets_channel.close(None)


async def _ids(graph: FollowGraph, users: list[str] | None) -> AsyncIterator[str]:
    if users is not None:
        for user in users:
            yield user
        return
    async for page in graph.user_pages():
        for user in page:
            yield user


async def _run(
    rebuilder: FeedRebuilder,
    ids: AsyncIterator[str],
    total: int | None,
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    progress = Progress(total, out)
    limit = RateLimit(args.rate or None)
    gate = asyncio.Semaphore(max(1, args.concurrency))
    done = 0

    async def one(user_id: str) -> None:
        nonlocal done
        try:
            await rebuilder.rebuild(user_id)
        finally:
            gate.release()
        done += 1
        progress.update(done)

    async with asyncio.TaskGroup() as group:
        async for user_id in ids:
            await limit.wait()
            await gate.acquire()
            group.create_task(one(user_id))
    progress.update(done, final=True)
    return done


def rebuild_main(argv: list[str]) -> None:
    args = parse(argv)
    settings = load_settings_or_exit()
    prepare_process("feed-rebuild", settings)
    asyncio.run(rebuild(settings, args))
