"""The search worker's bare twin for the cost of indexing: consume tweet events with entities from a
queue, parse them, and write each batch as the PostgreSQL backend does (documents upserted by
version, the trend rows of the written tweets replaced) with plain asyncpg: no validation model,
no tracing, no metrics, no ORM. Reports its own CPU seconds per event."""

from __future__ import annotations

import asyncio
import resource
import secrets
import uuid
from datetime import datetime
from typing import Any

import aio_pika
import asyncpg
import orjson
from aio_pika.abc import AbstractIncomingMessage

BATCH = 500  # the search worker's batch_size

UPSERT_DOCUMENTS = (
    "INSERT INTO documents (id, user_id, content, created_at, version, deleted, hashtags, mentions)"
    " SELECT id, user_id, content, created_at, version, false, '{}', '{}'"
    " FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::bigint[])"
    " AS t(id, user_id, content, created_at, version)"
    " ON CONFLICT (id) DO UPDATE SET content = excluded.content, version = excluded.version"
    " WHERE documents.version < excluded.version RETURNING id"
)
SET_ENTITIES = (
    "UPDATE documents SET hashtags = string_to_array(t.tags, ' '), mentions = string_to_array(t.names, ' ')"
    " FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, tags, names) WHERE documents.id = t.id"
)
DELETE_TAGS = "DELETE FROM tweet_tags WHERE tweet_id = ANY($1::uuid[])"
INSERT_TAGS = (
    "INSERT INTO tweet_tags (tweet_id, hashtag, user_id, created_at)"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[]) ON CONFLICT DO NOTHING"
)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _write(connection: asyncpg.Connection, events: list[dict[str, Any]]) -> None:
    ids = [uuid.UUID(event["tweet_id"]) for event in events]
    created = [datetime.fromisoformat(event["created_at"]) for event in events]
    async with connection.transaction():
        written = await connection.fetch(
            UPSERT_DOCUMENTS,
            ids,
            [uuid.UUID(event["user_id"]) for event in events],
            [event["content"] for event in events],
            created,
            [int(datetime.fromisoformat(event["updated_at"]).timestamp() * 1_000_000) for event in events],
        )
        await connection.execute(
            SET_ENTITIES,
            ids,
            [" ".join(event["entities"]["hashtags"]) for event in events],
            [" ".join(m["username"].lower() for m in event["entities"]["mentions"]) for event in events],
        )
        await connection.execute(DELETE_TAGS, [row["id"] for row in written])
        tags = [
            (tweet_id, tag, uuid.UUID(event["user_id"]), at)
            for tweet_id, event, at in zip(ids, events, created, strict=True)
            for tag in event["entities"]["hashtags"]
        ]
        await connection.execute(INSERT_TAGS, *map(list, zip(*tags, strict=True)) if tags else ([],) * 4)


async def index_with_entities(task: dict[str, Any]) -> dict[str, Any]:
    """Fill a scratch queue with task["events"] (not measured), then consume and index them (measured)."""
    bodies = [orjson.dumps(event) for event in task["events"]]
    name = f"bench.index.{secrets.token_hex(4)}"
    connection = await aio_pika.connect_robust(task["amqp_url"])
    database = await asyncpg.connect(task["search_dsn"])
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=BATCH)
        queue = await channel.declare_queue(name, durable=True)
        await asyncio.gather(*(channel.default_exchange.publish(aio_pika.Message(b), name) for b in bodies))
        started = _cpu_seconds()
        batch: list[AbstractIncomingMessage] = []
        indexed = 0
        async with queue.iterator() as messages:
            async for message in messages:
                batch.append(message)
                # Batches as full as the worker's under a backlog; the last one holds the rest.
                if len(batch) == BATCH or indexed + len(batch) == len(bodies):
                    await _write(database, [orjson.loads(each.body) for each in batch])
                    await batch[-1].ack(multiple=True)
                    indexed, batch = indexed + len(batch), []
                    if indexed == len(bodies):
                        break
        seconds = _cpu_seconds() - started
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        ids = [uuid.UUID(event["tweet_id"]) for event in task["events"]]
        await database.execute("DELETE FROM tweet_tags WHERE tweet_id = ANY($1::uuid[])", ids)
        await database.execute("DELETE FROM documents WHERE id = ANY($1::uuid[])", ids)
        await database.close()
        await connection.close()
    return {"events": len(bodies), "cpu_seconds": round(seconds, 4)}
