"""Every internal RPC of every service needs the service token: a call without it, or with anything
but exactly `authorization: Bearer <token>`, is UNAUTHENTICATED before the servicer runs. The
health service answers without it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devtools.testing import StartedService
from fleet_proto import (
    feed_service_pb2,
    notification_service_pb2,
    search_service_pb2,
    tweet_service_pb2,
    user_service_pb2,
)
from shared.settings import Settings

SERVICES = {
    "users": (user_service_pb2, "user_service.User", "userservice"),
    "tweets": (tweet_service_pb2, "tweet_service.Tweet", "tweetservice"),
    "feed": (feed_service_pb2, "feed_service.Feed", "feedservice"),
    "search": (search_service_pb2, "search_service.Search", "searchservice"),
    "notifications": (notification_service_pb2, "notification_service.Notifications", "notificationservice"),
}


def _methods() -> list[tuple[str, str]]:
    """(service, RPC) for every RPC the protos declare: a new RPC is covered without editing this."""
    pool = descriptor_pool.Default()
    return [
        (name, method.name)
        for name, (_, full_name, _) in SERVICES.items()
        for method in pool.FindServiceByName(full_name).methods
    ]


@pytest.fixture(scope="module")
async def running(
    users_service: StartedService,
    tweets_service: StartedService,
    feed_service: StartedService,
    search_service: StartedService,
    notifications_service: StartedService,
) -> None:
    """All five services serve gRPC on their configured ports."""


@pytest.fixture
async def channel_to(settings: Settings, running: None) -> AsyncIterator[dict[str, grpc.aio.Channel]]:
    channels = {
        name: grpc.aio.insecure_channel(f"127.0.0.1:{getattr(settings, section).grpc_port}")
        for name, (_, _, section) in SERVICES.items()
    }
    yield channels
    for channel in channels.values():
        await channel.close(None)


async def _call(
    channel: grpc.aio.Channel, service: str, rpc: str, metadata: list[tuple[str, str]]
) -> grpc.StatusCode:
    """Call an RPC with an empty request; the status code it ends with (OK included)."""
    _, full_name, _ = SERVICES[service]
    method = descriptor_pool.Default().FindServiceByName(full_name).methods_by_name[rpc]
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    call = channel.unary_unary(
        f"/{full_name}/{rpc}",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    try:
        await call(request_class(), metadata=metadata, timeout=5)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def _wrong_credentials(token: str) -> dict[str, list[tuple[str, str]]]:
    return {
        "none": [],
        "another token": [("authorization", "Bearer " + "x" * len(token))],
        "the token without Bearer": [("authorization", token)],
        "lower-case bearer": [("authorization", f"bearer {token}")],
        "a prefix of the token": [("authorization", f"Bearer {token[:-1]}")],
        "the token and one more character": [("authorization", f"Bearer {token}x")],
        "empty": [("authorization", "")],
        "the token under another key": [("x-service-token", f"Bearer {token}")],
        "a right and a wrong one": [("authorization", f"Bearer {token}"), ("authorization", "Bearer nope")],
    }


@pytest.mark.parametrize(("service", "rpc"), _methods())
async def test_every_rpc_refuses_a_call_without_the_service_token(
    service: str, rpc: str, settings: Settings, channel_to: dict[str, grpc.aio.Channel]
) -> None:
    token = settings.internal.service_token.get_secret_value()
    for case, metadata in _wrong_credentials(token).items():
        code = await _call(channel_to[service], service, rpc, metadata)
        assert code == grpc.StatusCode.UNAUTHENTICATED, f"{service}.{rpc} with {case}: {code}"


@pytest.mark.parametrize(("service", "rpc"), _methods())
async def test_every_rpc_accepts_the_service_token(
    service: str, rpc: str, settings: Settings, channel_to: dict[str, grpc.aio.Channel]
) -> None:
    """The refusals above are for the credential, not for the empty request: with the token the
    same call reaches the servicer (which may still refuse the request itself)."""
    token = settings.internal.service_token.get_secret_value()
    code = await _call(channel_to[service], service, rpc, [("authorization", f"Bearer {token}")])
    assert code != grpc.StatusCode.UNAUTHENTICATED, f"{service}.{rpc}"
    assert code != grpc.StatusCode.UNIMPLEMENTED, f"{service}.{rpc}"


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_health_answers_without_a_token(service: str, channel_to: dict[str, grpc.aio.Channel]) -> None:
    health = health_pb2_grpc.HealthStub(channel_to[service])
    for name in ("", SERVICES[service][1]):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
