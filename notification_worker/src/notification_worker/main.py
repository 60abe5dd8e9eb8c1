"""The notification-worker process: consumes queue `notifications` until stopped."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from fleet_proto import user_service_pb2_grpc
from notification_worker.rules import changes_for
from notification_worker.writer import NotificationWriter
from notifications.live import LivePublisher
from notifications.users_client import UsersClient
from shared.cli import load_settings_or_exit
from shared.grpc.channels import open_channel
from shared.lifecycle import database, redis_client
from shared.messaging.consumer import EventConsumer, Handler, Subscription
from shared.messaging.topology import NOTIFICATIONS_QUEUE
from shared.runner import prepare_process, run_worker
from shared.settings import Settings

SERVICE = "notification-worker"


def event_handler(writer: NotificationWriter) -> Handler:
    async def handle(body: dict[str, Any]) -> None:
        # A body that does not match its event_type raises ValidationError: dead-lettered.
        await writer.submit(changes_for(body))

    return handle


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Run the worker until `stop` is set (the process entry point, and in-process for tests)."""
    worker = settings.notificationworker
    section = settings.notificationservice
    users_channel = open_channel(
        settings.userservice.grpc_target,
        "users",
        settings.userservice.grpc_timeout_seconds,
        settings.internal.service_token,
    )
    try:
        async with (
            database(settings.database, section.database) as (_, sessions),
            redis_client(settings.redis) as redis,
        ):
            writer = NotificationWriter(
                sessions,
                UsersClient(user_service_pb2_grpc.UserStub(users_channel)),
                LivePublisher(
                    redis, keep_seconds=section.replay_seconds, max_events=section.replay_max_events
                ),
                worker.batch_size,
                worker.batch_linger_seconds,
            )
            consumer = EventConsumer(
                settings.rabbitmq.url.get_secret_value(),
                [Subscription(NOTIFICATIONS_QUEUE, event_handler(writer))],
                worker,
                SERVICE,
                settings.rabbitmq.queue_type,
            )
            await consumer.run(stop)
    finally:
        await users_channel.close(None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=SERVICE, description="Consume the notifications queue.")
    parser.parse_args(argv)
    settings = load_settings_or_exit()
    prepare_process(SERVICE, settings)
    run_worker(lambda stop: run(settings, stop))


if __name__ == "__main__":
    main()
