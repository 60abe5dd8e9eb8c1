"""Reading the fleet's Prometheus metrics in tests and benchmarks: where each process serves them,
a scrape parsed by prometheus-client's parser, and a dead letter forced onto a queue."""

from __future__ import annotations

import aio_pika
import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from shared.settings import Settings

Samples = list[Sample]


def scrape_targets(settings: Settings) -> dict[str, str]:
    """The address of every process's metrics, by Prometheus job name (deploy/prometheus)."""
    return {
        "users": f"127.0.0.1:{settings.userservice.rest_port}",
        "tweets": f"127.0.0.1:{settings.tweetservice.rest_port}",
        "feed": f"127.0.0.1:{settings.feedservice.rest_port}",
        "search": f"127.0.0.1:{settings.searchservice.rest_port}",
        "feed_worker": f"127.0.0.1:{settings.feedworker.metrics_port}",
        "search_worker": f"127.0.0.1:{settings.searchworker.metrics_port}",
        "notifications": f"127.0.0.1:{settings.notificationservice.rest_port}",
        "notification_worker": f"127.0.0.1:{settings.notificationworker.metrics_port}",
    }


async def scrape(target: str) -> Samples:
    """GET /metrics of one process, parsed by prometheus-client's own parser."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"http://{target}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when there are none)."""
    return sum(
        sample.value
        for sample in samples
        if sample.name == name and all(sample.labels.get(key) == wanted for key, wanted in labels.items())
    )


async def force_dead_letter(settings: Settings, queue: str) -> None:
    """Put a message no consumer can decode on `queue`: it is dead-lettered at once."""
    connection = await aio_pika.connect_robust(settings.rabbitmq.url.get_secret_value(), timeout=5)
    async with connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(aio_pika.Message(b"not json"), routing_key=queue)
