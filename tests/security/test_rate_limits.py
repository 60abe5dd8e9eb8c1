"""Rate limits (Redis-backed, fixed one-minute windows) on login, registration and writes: past the
limit the answer is 429 problem+json with a Retry-After, per client IP and per account, so a password
cannot be brute-forced from one address or from many."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from devtools.testing import (
    TEST_PASSWORD,
    Account,
    StartedService,
    free_port,
    register_and_login,
    started_service,
)
from shared.settings import Settings
from tweets.main import SPEC as TWEETS_SPEC
from users.main import SPEC as USERS_SPEC

LOGINS, REGISTRATIONS, WRITES = 5, 3, 5
ClientFactory = Callable[[], httpx.AsyncClient]


def limited(settings: Settings) -> Settings:
    """The session's settings with rate limiting on and low limits, for a second instance of a service."""
    return settings.model_copy(
        update={
            "ratelimit": settings.ratelimit.model_copy(
                update={
                    "enabled": True,
                    "login_per_minute": LOGINS,
                    "register_per_minute": REGISTRATIONS,
                    "writes_per_minute": WRITES,
                }
            ),
            # Their own gRPC ports: the session's instances keep theirs.
            "userservice": settings.userservice.model_copy(update={"grpc_port": free_port()}),
            "tweetservice": settings.tweetservice.model_copy(update={"grpc_port": free_port()}),
        }
    )


@pytest.fixture(scope="module")
async def limited_users(settings: Settings, users_service: StartedService) -> AsyncIterator[StartedService]:
    async with started_service(USERS_SPEC, limited(settings)) as service:
        yield service


@pytest.fixture(scope="module")
async def limited_tweets(
    settings: Settings, users_service: StartedService, tweets_service: StartedService
) -> AsyncIterator[StartedService]:
    # Its users channel must reach the session's users instance, so only the tweets port moves.
    async with started_service(
        TWEETS_SPEC, limited(settings).model_copy(update={"userservice": settings.userservice})
    ) as service:
        yield service


@pytest.fixture
async def from_ip(limited_users: StartedService) -> AsyncIterator[ClientFactory]:
    """`from_ip()` is a client of the rate-limited users app coming from a fresh address."""
    clients: list[httpx.AsyncClient] = []

    def client() -> httpx.AsyncClient:
        address = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
        transport = httpx.ASGITransport(app=limited_users.app, client=(address, 40000))
        made = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(made)
        return made

    yield client
    for made in clients:
        await made.aclose()


def window() -> int:
    return int(time.time()) // 60


async def in_one_window(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run a scenario inside one one-minute window: counts restart with each window, so a scenario
    that straddled a boundary (a slow machine) is run once more, with fresh accounts and addresses."""
    if time.time() % 60 > 45:
        await asyncio.sleep(60.5 - time.time() % 60)
    started = window()
    try:
        await scenario()
    except AssertionError:
        if window() == started:
            raise
        await scenario()


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60


def login_body(account: Account, password: str) -> dict[str, str]:
    return {"username": account.username, "password": password}


async def test_password_brute_force_from_one_address_is_stopped(
    from_ip: ClientFactory, users_service: StartedService
) -> None:
    async def scenario() -> None:
        victim = await register_and_login(users_service.client)
        attacker = from_ip()
        for attempt in range(LOGINS):
            response = await attacker.post("/login", json=login_body(victim, f"guess-{attempt}"))
            assert response.status_code == 401, response.text

        assert_limited(await attacker.post("/login", json=login_body(victim, "guess-next")))
        # Even the right password gets no answer about its correctness now.
        assert_limited(await attacker.post("/login", json=login_body(victim, TEST_PASSWORD)))

    await in_one_window(scenario)


async def test_password_brute_force_from_many_addresses_is_stopped_per_account(
    from_ip: ClientFactory, users_service: StartedService
) -> None:
    async def scenario() -> None:
        victim = await register_and_login(users_service.client)
        for attempt in range(LOGINS):
            response = await from_ip().post(
                "/login", json={"email": victim.email, "password": f"guess-{attempt}"}
            )
            assert response.status_code == 401, response.text

        right = {"email": victim.email, "password": TEST_PASSWORD}
        assert_limited(await from_ip().post("/login", json=right))
        # The identifier's case does not open a second budget.
        assert_limited(await from_ip().post("/login", json={**right, "email": victim.email.upper()}))

    await in_one_window(scenario)


async def test_email_and_username_of_one_account_share_one_login_budget(
    from_ip: ClientFactory, users_service: StartedService
) -> None:
    async def scenario() -> None:
        victim = await register_and_login(users_service.client)
        for attempt in range(LOGINS):
            response = await from_ip().post(
                "/login", json={"email": victim.email, "password": f"guess-{attempt}"}
            )
            assert response.status_code == 401, response.text

        # Switching to the username must not give the attacker a fresh budget on the same account.
        assert_limited(await from_ip().post("/login", json=login_body(victim, "guess-by-username")))

    await in_one_window(scenario)


async def test_registrations_are_limited_per_address(from_ip: ClientFactory) -> None:
    def body() -> dict[str, str]:
        name = f"r{uuid.uuid4().hex[:12]}"
        return {"email": f"{name}@example.com", "username": name, "password": TEST_PASSWORD}

    async def scenario() -> None:
        crowd = from_ip()
        for _ in range(REGISTRATIONS):
            assert (await crowd.post("/register", json=body())).status_code == 201
        assert_limited(await crowd.post("/register", json=body()))
        assert (await from_ip().post("/register", json=body())).status_code == 201, "another address"

    await in_one_window(scenario)


async def test_follow_writes_are_limited_per_user(
    users_service: StartedService, limited_users: StartedService
) -> None:
    async def scenario() -> None:
        writer, other, target = [await register_and_login(users_service.client) for _ in range(3)]
        client = limited_users.client
        for n in range(WRITES):
            method = "POST" if n % 2 == 0 else "DELETE"
            response = await client.request(method, f"/users/{target.id}/follow", headers=writer.headers)
            assert response.status_code in (201, 204), response.text
        assert_limited(await client.post(f"/users/{target.id}/follow", headers=writer.headers))
        # Another user from the same address is not affected.
        assert (await client.post(f"/users/{target.id}/follow", headers=other.headers)).status_code == 201

    await in_one_window(scenario)


async def test_tweet_writes_are_limited_per_user(
    limited_tweets: StartedService, users_service: StartedService
) -> None:
    async def scenario() -> None:
        writer, other = [await register_and_login(users_service.client) for _ in range(2)]
        client = limited_tweets.client
        for n in range(WRITES):
            response = await client.post("/tweet", json={"content": f"tweet {n}"}, headers=writer.headers)
            assert response.status_code == 201, response.text
        assert_limited(await client.post("/tweet", json={"content": "one too many"}, headers=writer.headers))
        assert (await client.get("/tweet/like", headers=writer.headers)).status_code == 200, "reads are free"
        assert (
            await client.post("/tweet", json={"content": "mine"}, headers=other.headers)
        ).status_code == 201

    await in_one_window(scenario)
