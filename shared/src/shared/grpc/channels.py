"""One reused channel per target, with the service token, deadlines, retries on UNAVAILABLE and
keepalive."""

from __future__ import annotations

import json

import grpc
from pydantic import SecretStr

from shared.grpc.auth import ServiceTokenClientInterceptor
from shared.grpc.errors import ClientInterceptor

_RETRY_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)

CHANNEL_OPTIONS: list[tuple[str, object]] = [
    ("grpc.service_config", _RETRY_SERVICE_CONFIG),
    ("grpc.enable_retries", 1),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    # Reconnect quickly once a restarted peer is back.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def open_channel(
    target: str, service: str, timeout_seconds: float, service_token: SecretStr
) -> grpc.aio.Channel:
    """A channel to `service` at `target` whose calls carry the service token (settings.internal);
    build it once in a lifespan and close it there."""
    return grpc.aio.insecure_channel(
        target,
        options=CHANNEL_OPTIONS,
        interceptors=[
            ClientInterceptor(service, timeout_seconds),  # type: ignore[list-item]
            ServiceTokenClientInterceptor(service_token),  # type: ignore[list-item]
        ],
    )
