"""Rate limits (Redis-backed, moving one-minute windows) on login, registration, writes and search:
past the limit the answer is 429 problem+json with a Retry-After. Logins are limited per (identifier,
client address) and per address, so a password cannot be brute-forced from one address and a third
party cannot lock the owner out from another; the answer never depends on which account an
identifier names. X-Forwarded-For counts only from a configured proxy; login fails closed when the
limiter's store is down, other routes fail open."""

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
from search.main import SPEC as SEARCH_SPEC
from shared.settings import Settings
from tweets.main import SPEC as TWEETS_SPEC
from users.main import SPEC as USERS_SPEC

LOGINS, LOGINS_PER_ADDRESS, REGISTRATIONS, WRITES, SEARCHES = 5, 12, 3, 5, 5
PROXY = "10.255.255.1"
ClientFactory = Callable[[], httpx.AsyncClient]


def limited(settings: Settings) -> Settings:
    """The session's settings with rate limiting on and low limits, for a second instance of a service."""
    return settings.model_copy(
        update={
            "ratelimit": settings.ratelimit.model_copy(
                update={
                    "enabled": True,
                    "login_per_minute": LOGINS,
                    "login_address_per_minute": LOGINS_PER_ADDRESS,
                    "register_per_minute": REGISTRATIONS,
                    "writes_per_minute": WRITES,
                    "search_per_minute": SEARCHES,
                    "trusted_proxies": [PROXY],
                }
            ),
            # Their own gRPC ports: the session's instances keep theirs.
            "userservice": settings.userservice.model_copy(update={"grpc_port": free_port()}),
            "tweetservice": settings.tweetservice.model_copy(update={"grpc_port": free_port()}),
            "searchservice": settings.searchservice.model_copy(update={"grpc_port": free_port()}),
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


async def test_failures_from_other_addresses_do_not_lock_the_owner_out(
    from_ip: ClientFactory, users_service: StartedService
) -> None:
    async def scenario() -> None:
        victim = await register_and_login(users_service.client)
        for _ in range(3):
            attacker = from_ip()
            for attempt in range(LOGINS + 1):
                await attacker.post("/login", json={"email": victim.email, "password": f"guess-{attempt}"})
        owner = from_ip()
        response = await owner.post("/login", json={"email": victim.email, "password": TEST_PASSWORD})
        assert response.status_code == 200, response.text

    await in_one_window(scenario)


async def test_one_address_is_limited_across_identifiers(from_ip: ClientFactory) -> None:
    async def scenario() -> None:
        sprayer = from_ip()
        for n in range(LOGINS_PER_ADDRESS):
            response = await sprayer.post("/login", json={"username": f"spray{n}", "password": "password1"})
            assert response.status_code == 401, response.text
        assert_limited(await sprayer.post("/login", json={"username": "spray-next", "password": "password1"}))

    await in_one_window(scenario)


async def test_the_limited_answer_does_not_tell_which_email_goes_with_which_username(
    from_ip: ClientFactory, users_service: StartedService
) -> None:
    async def scenario() -> None:
        victim, stranger = [await register_and_login(users_service.client) for _ in range(2)]
        prober = from_ip()
        for attempt in range(LOGINS):
            await prober.post("/login", json={"email": victim.email, "password": f"guess-{attempt}"})
        assert_limited(await prober.post("/login", json={"email": victim.email, "password": "again"}))
        # The victim's username answers exactly like an unrelated one: no shared budget to detect.
        own = await prober.post("/login", json=login_body(victim, "guess"))
        other = await prober.post("/login", json=login_body(stranger, "guess"))
        assert own.status_code == other.status_code == 401

    await in_one_window(scenario)


async def test_the_window_moves_instead_of_restarting_each_minute(from_ip: ClientFactory) -> None:
    # A fixed window would allow LOGINS more at the next minute, i.e. 2x LOGINS in a few seconds
    # across a boundary; a moving window waits for the first attempt to be a minute old.
    if time.time() % 60 < 15:
        await asyncio.sleep(15 - time.time() % 60)
    client = from_ip()
    for attempt in range(LOGINS):
        await client.post("/login", json={"username": "movingwindow", "password": f"guess-{attempt}"})
    limited_response = await client.post("/login", json={"username": "movingwindow", "password": "x"})
    assert_limited(limited_response)
    until_next_minute = 60 - time.time() % 60
    assert int(limited_response.headers["retry-after"]) > until_next_minute + 5


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    limited_users: StartedService,
) -> None:
    def client(peer: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=limited_users.app, client=(peer, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    name = f"xff{uuid.uuid4().hex[:8]}"
    async with client("127.0.0.1") as local, client(PROXY) as proxy:
        for attempt in range(LOGINS):
            spoofed = {"X-Forwarded-For": f"192.0.2.{attempt + 1}"}
            response = await local.post(
                "/login", json={"username": name, "password": f"g{attempt}"}, headers=spoofed
            )
            assert response.status_code == 401
        assert_limited(
            await local.post(
                "/login", json={"username": name, "password": "g"}, headers={"X-Forwarded-For": "192.0.2.99"}
            )
        )
        # Behind the configured proxy, the forwarded address is the client's: a fresh budget.
        behind = {"X-Forwarded-For": "198.51.100.7, 10.255.255.1"}
        response = await proxy.post("/login", json={"username": name, "password": "g"}, headers=behind)
        assert response.status_code == 401, response.text


@pytest.fixture(scope="module")
async def users_without_limiter_store(
    settings: Settings, users_service: StartedService
) -> AsyncIterator[StartedService]:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    broken = limited(settings).model_copy(
        update={"redis": settings.redis.model_copy(update={"url": dead, "socket_timeout": 0.5})}
    )
    async with started_service(USERS_SPEC, broken) as service:
        yield service


async def test_login_fails_closed_and_registration_open_when_the_limiter_store_is_down(
    users_without_limiter_store: StartedService,
) -> None:
    transport = httpx.ASGITransport(app=users_without_limiter_store.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        name = f"down{uuid.uuid4().hex[:8]}"
        body = {"email": f"{name}@example.com", "username": name, "password": TEST_PASSWORD}
        assert (await client.post("/register", json=body)).status_code == 201, "fails open"
        response = await client.post("/login", json={"username": name, "password": TEST_PASSWORD})
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.fixture(scope="module")
async def limited_search(settings: Settings, search_service: StartedService) -> AsyncIterator[StartedService]:
    async with started_service(SEARCH_SPEC, limited(settings)) as service:
        yield service


async def test_search_reads_are_limited_per_address(limited_search: StartedService) -> None:
    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=limited_search.app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    address = f"10.1.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    async with client(address) as reader, client("10.2.0.1") as other:
        for _ in range(SEARCHES):
            assert (await reader.get("/search", params={"q": "hello"})).status_code == 200
        assert_limited(await reader.get("/search", params={"q": "hello"}))
        assert (await other.get("/search", params={"q": "hello"})).status_code == 200


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
