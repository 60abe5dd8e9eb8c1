"""User search on PostgreSQL at scale: every branch of the match, the typo one included, is served by
an index on a table of realistic size, and the index-backed query still finds what the rules say."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from devtools.people import Person, load_profiles, people
from search.backends.base import FUZZY_MIN_LENGTH
from search.backends.postgres import WORD_START_LENGTH, user_search_statement
from shared.db.engine import build_engine
from shared.text import fold

from .conftest import SearchStack

pytestmark = pytest.mark.parametrize("stack", ["postgresql"], indirect=True)

# Large enough that reading the table costs the planner more than the indexes: ~100k profiles.
PROFILES = 100_000
TYPO_INDEX = "ix_user_profiles_typo_keys"


async def _connect(stack: SearchStack) -> asyncpg.Connection:
    settings = stack.settings
    return await asyncpg.connect(settings.database.dsn(settings.searchservice.database))


@pytest.fixture(scope="module")
async def crowd(stack: SearchStack) -> AsyncIterator[list[Person]]:
    """PROFILES accounts in user_profiles (COPY, then ANALYZE), for this module, removed afterwards."""
    crowd = people(PROFILES)
    connection = await _connect(stack)
    try:
        await connection.execute("TRUNCATE user_profiles")
        await load_profiles(stack.settings.database.dsn(stack.settings.searchservice.database), crowd)
        yield crowd
    finally:
        await connection.execute("TRUNCATE user_profiles")
        await connection.close()


def _within_one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)) :] == b[i + 1 :]


def _matches(key: str, name: str, query: str) -> bool:
    """The rule of SearchBackend.search_users, written out plainly (no index)."""
    if key.startswith(query) or name.startswith(query) or f" {query}" in name:
        return True
    n = len(query)
    return n >= FUZZY_MIN_LENGTH and any(
        _within_one_edit(candidate[:length], query)
        for candidate in (key, name)
        for length in (n - 1, n, n + 1)
    )


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


async def test_typo_queries_read_the_typo_index_not_the_table(
    stack: SearchStack, crowd: list[Person]
) -> None:
    engine = build_engine(stack.settings.database, stack.settings.searchservice.database)
    try:
        for query in ("margeret", "wiliams", "jonnson", "alxe"):
            statement, params = user_search_statement(query, 20)
            async with engine.connect() as connection:
                explained = text(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement.text}")
                [plan] = (await connection.execute(explained, params)).scalar_one()
            nodes = list(_plan_nodes(plan["Plan"]))
            # Bitmap scans only: no Seq Scan, and no Index Scan walking the table in follower order.
            scans = {node["Node Type"] for node in nodes if node["Node Type"].endswith("Scan")}
            assert scans == {"Bitmap Heap Scan", "Bitmap Index Scan"}, (query, scans)
            [typo_scan] = [node for node in nodes if node.get("Index Name") == TYPO_INDEX]
            # The index narrows the candidates to a small part of the table.
            assert typo_scan["Actual Rows"] < PROFILES // 20, (query, typo_scan["Actual Rows"])
    finally:
        await engine.dispose()


async def test_index_backed_search_finds_what_the_rule_says(stack: SearchStack, crowd: list[Person]) -> None:
    keyed = [(p.username.lower(), fold(p.display_name), p) for p in crowd]
    for query in ("margeret", "wiliams", "alxe", "jon", "smith_"):
        expected = [p for key, name, p in keyed if _matches(key, name, query)]
        expected.sort(key=lambda p: (-p.num_followers, p.username.lower()))
        response = await stack.client.get("/search/users", params={"q": query, "limit": 20})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(expected) > 0, query
        # Ties on followers are broken by username, then id: compare what the order fixes.
        found = [(hit["num_followers"], hit["username"]) for hit in body["results"]]
        assert found == [(p.num_followers, p.username) for p in expected[:20]], query


async def test_the_candidate_keys_never_miss_a_match(stack: SearchStack) -> None:
    """The GIN indexes are pre-filters: they may let through too much, never too little."""
    generator = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_ éü日"
    keys = [fold(p.display_name) for p in people(500)] + [p.username for p in people(500, seed=8)]
    keys += ["".join(generator.choices(alphabet, k=generator.randint(3, 12))) for _ in range(1000)]
    pairs = []
    for key in keys:
        prefix = key[: generator.randint(3, len(key))]
        at = generator.randrange(len(prefix) + 1)
        char = generator.choice(alphabet)
        query = generator.choice(
            (
                prefix,
                prefix[:at] + char + prefix[at + 1 :],  # substitution (or none at the end)
                prefix[:at] + char + prefix[at:],  # insertion
                prefix[:at] + prefix[at + 1 :],  # deletion
            )
        )
        if len(query) >= FUZZY_MIN_LENGTH:
            pairs.append((key, query))
    assert len(pairs) > 1000
    far = [("margaret", "xyzw"), ("margaret", "rgaret"), ("alice", "ilaec")]
    # A display-name word prefix: the query starts a later word (and may run on into the next ones).
    names = [fold(p.display_name) for p in people(300, seed=9)] + ["ann  lee-smith o'neil x", "ǆemal 日本 語"]
    word_prefixes = []
    for name in names:
        starts = [i + 1 for i, char in enumerate(name) if char == " " and i + 1 < len(name)]
        for start in starts:
            query = name[start : start + generator.randint(1, 12)].strip()
            if query:
                word_prefixes.append((name, query, query.split(" ", 1)[0][:WORD_START_LENGTH]))
    connection = await _connect(stack)
    try:
        check = (
            "SELECT k, q, user_search_typo_keys(k) && user_search_typo_probes(q) AS candidate"
            " FROM unnest($1::text[], $2::text[]) AS pairs(k, q)"
        )
        rows = await connection.fetch(check, *map(list, zip(*pairs, strict=True)))
        assert [(row["k"], row["q"]) for row in rows if not row["candidate"]] == []
        rows = await connection.fetch(check, *map(list, zip(*far, strict=True)))
        assert [row["candidate"] for row in rows] == [False, False, False]
        missed = await connection.fetch(
            "SELECT name, q FROM unnest($1::text[], $2::text[], $3::text[]) AS pairs(name, q, word_start)"
            " WHERE name LIKE '% ' || q || '%' AND NOT user_search_word_starts(name) @> ARRAY[word_start]",
            *map(list, zip(*word_prefixes, strict=True)),
        )
        assert len(word_prefixes) >= len(names) and missed == []
    finally:
        await connection.close()
