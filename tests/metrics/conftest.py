"""The real fleet for the metrics tests, with feed as two processes (multiprocess collection) and
the sampled gauges refreshed every half second; helpers to scrape and read its metrics."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from devtools.fleet import Fleet
from devtools.testing import delete_vhost, release_redis_db, settings_env, test_settings, vhost_of
from shared.db.migrations import drop_database
from shared.settings import Settings


@pytest.fixture(scope="session")
def metrics_settings() -> Iterator[Settings]:
    value = test_settings(metrics={"sample_seconds": 0.5}, feedservice={"workers": 2})
    yield value
    delete_vhost(vhost_of(value))
    release_redis_db(value)


@pytest.fixture(scope="session")
async def metrics_fleet(metrics_settings: Settings) -> AsyncIterator[Fleet]:
    running = Fleet(metrics_settings, env=settings_env(metrics_settings), log_prefix=True)
    await running.migrate()
    await running.start()
    try:
        await running.wait_ready(timeout=90)
        yield running
    finally:
        await running.stop()
        for section in (
            metrics_settings.userservice,
            metrics_settings.tweetservice,
            metrics_settings.searchservice,
            metrics_settings.notificationservice,
        ):
            with contextlib.suppress(Exception):
                await drop_database(metrics_settings.database, section.database)
