"""The search-worker process: `run` (default) consumes tweet events; `reindex` rebuilds the index."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging

from search.backends import create_backend
from search_worker.batcher import IndexBatcher
from search_worker.handlers import tweet_event_handler, user_event_handler
from search_worker.reindex import reindex
from shared.cli import load_settings_or_exit
from shared.errors import DependencyUnavailable
from shared.messaging.consumer import EventConsumer, Subscription
from shared.messaging.topology import SEARCH_QUEUE, SEARCH_USERS_QUEUE
from shared.runner import prepare_process, run_worker
from shared.settings import Settings
from shared.telemetry import tracer

SERVICE = "search-worker"
logger = logging.getLogger(__name__)

__all__ = ["main", "reindex", "run"]


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Index tweet events (queue search_tweets) and account events (search_users) until `stop` is set."""
    section = settings.searchworker
    backend = create_backend(settings)
    try:
        batcher = IndexBatcher(backend, section.batch_size, section.batch_linger_seconds, tracer(SERVICE))
        consumer = EventConsumer(
            settings.rabbitmq.url.get_secret_value(),
            [
                Subscription(SEARCH_QUEUE, tweet_event_handler(batcher)),
                Subscription(SEARCH_USERS_QUEUE, user_event_handler(backend)),
            ],
            section,
            SERVICE,
            settings.rabbitmq.queue_type,
        )
        await consumer.run(stop)
    finally:
        await backend.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=SERVICE)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "reindex"])
    args = parser.parse_args(argv)
    settings = load_settings_or_exit()
    prepare_process(SERVICE, settings)
    if args.command == "reindex":
        try:
            indexed = asyncio.run(reindex(settings))
        except DependencyUnavailable as exc:
            logger.error("reindex failed, the index is unchanged or partly rebuilt: %s", exc.detail)
            raise SystemExit(1) from None
        logger.info("reindex done: %d tweets and %d accounts indexed", *indexed)
        return
    run_worker(functools.partial(run, settings))


if __name__ == "__main__":
    main()
