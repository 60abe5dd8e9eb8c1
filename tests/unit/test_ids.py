"""UUIDv7 ids: their order (as UUIDs, as strings, as PostgreSQL compares them) is creation order."""

from __future__ import annotations

import time
import uuid

from shared.ids import uuid7, uuid7_time_ms


def test_ids_sort_by_creation_time_within_and_across_milliseconds() -> None:
    made: list[uuid.UUID] = []
    for _ in range(5):
        made.extend(uuid7() for _ in range(2_000))  # many within one millisecond
        time.sleep(0.002)
    assert all(isinstance(value, uuid.UUID) and value.version == 7 for value in made)
    assert sorted(made) == made
    assert sorted(made, key=str) == made
    assert sorted(made, key=lambda value: value.bytes) == made
    assert len(set(made)) == len(made)


def test_the_timestamp_is_the_creation_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= uuid7_time_ms(value) <= after
