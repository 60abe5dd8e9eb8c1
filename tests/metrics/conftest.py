"""The real fleet for the metrics tests, with feed as two processes (multiprocess collection) and
the sampled gauges refreshed every half second; helpers to scrape and read its metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from devtools.fixtures import running_fleet
from devtools.fleet import Fleet
from devtools.testing import delete_vhost, release_redis_db, test_settings, vhost_of
from shared.settings import Settings


@pytest.fixture(scope="session")
def metrics_settings() -> Iterator[Settings]:
    value = test_settings(metrics={"sample_seconds": 0.5}, feedservice={"workers": 2})
    yield value
    delete_vhost(vhost_of(value))
    release_redis_db(value)


@pytest.fixture(scope="session")
async def metrics_fleet(metrics_settings: Settings) -> AsyncIterator[Fleet]:
    async with running_fleet(metrics_settings) as running:
        yield running
