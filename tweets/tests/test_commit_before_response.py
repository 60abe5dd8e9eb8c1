"""A 2xx means the write is committed: the transaction ends before the response is sent.

A deferred constraint trigger makes PostgreSQL refuse the COMMIT itself (after every statement of
the request succeeded); the client must then get an error, and nothing may be stored. Were the
commit run after the response (FastAPI's default for dependencies with yield), the client would
already hold a 201 for a tweet that does not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from devtools.fixtures import engine_of
from devtools.testing import Account, StartedService, assert_problem

CREATE_FUNCTION = """
CREATE FUNCTION test_refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'refused at commit';
END $$
"""
CREATE_TRIGGER = """
CREATE CONSTRAINT TRIGGER test_refuse_commit AFTER INSERT ON tweets
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse_commit()
"""


@pytest.fixture
async def commits_refused(tweets_service: StartedService) -> AsyncIterator[None]:
    engine = engine_of(tweets_service)
    async with engine.begin() as connection:
        await connection.execute(text(CREATE_FUNCTION))
        await connection.execute(text(CREATE_TRIGGER))
    yield
    async with engine.begin() as connection:
        await connection.execute(text("DROP TRIGGER test_refuse_commit ON tweets"))
        await connection.execute(text("DROP FUNCTION test_refuse_commit()"))


async def test_a_post_whose_commit_fails_is_answered_with_an_error_and_stores_nothing(
    alice: Account, tweets_service: StartedService, commits_refused: None
) -> None:
    # The 500 is re-raised by Starlette after it is sent: take the response as a client would.
    transport = httpx.ASGITransport(app=tweets_service.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/tweet", json={"content": "refused at commit"}, headers=alice.headers)

    assert_problem(response, 500)
    async with engine_of(tweets_service).connect() as connection:
        stored = await connection.execute(
            text("SELECT count(*) FROM tweets WHERE content = 'refused at commit'")
        )
        assert stored.scalar_one() == 0
        queued = await connection.execute(
            text("SELECT count(*) FROM outbox WHERE payload::text LIKE '%refused at commit%'")
        )
        assert queued.scalar_one() == 0
