"""The feed store's Redis Cluster path (`REDIS__CLUSTER=true`): every key a script touches is declared,
and no call spans hash slots.

The feed keys stay `feed:<user_id>` (the contract), so a batch of 1000 followers falls into ~970
different slots: fan-out sends one insert script call per slot group, with that group's feeds as
KEYS, and each node gets its share in one round trip (the nodes work in parallel). A repost's
fan-out goes the same way. The tombstones (a deleted tweet's, an undone repost's) live in other
slots than the feeds, so the script cannot read them: the store checks them before each batch and
again after it, and takes the entry back out of that batch's feeds if a delete or an undo marked it
meanwhile. That closes the race the single-server script closes
atomically: the delete sets the tombstone before it removes, so an insert that lands after the
removal also lands after the tombstone, and the check after the batch sees it.

Cached tweets (`tweet:<id>`) are read with a pipeline of GETs (one per slot, grouped per node) after
the page script, instead of the MGET inside it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, cast

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.crc import key_slot
from redis.exceptions import NoScriptError


def by_slot(keys: Iterable[str]) -> list[list[str]]:
    """`keys` grouped by hash slot (each group may go into one multi-key call)."""
    groups: defaultdict[int, list[str]] = defaultdict(list)
    for key in keys:
        groups[key_slot(key.encode())].append(key)
    return list(groups.values())


class ClusterScript:
    """A Lua script called with EVALSHA inside cluster pipelines: redis-py's Script object reloads a
    missing script only outside pipelines, so this loads it on every primary and reloads it once if
    a node answers NOSCRIPT (restarted, or a failover promoted a replica)."""

    def __init__(self, redis: Redis, source: str) -> None:
        self._redis = redis
        self._source = source
        self._sha = ""

    async def run_grouped(self, groups: list[list[str]], args: list[str | int]) -> list[object]:
        """One call per key group, pipelined; the replies in group order."""
        for attempt in range(2):
            if not self._sha:
                # SCRIPT LOAD goes to every primary; the reply is the same digest from each.
                self._sha = await self._redis.script_load(self._source)
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for keys in groups:
                        # redis-py blocks `pipe.evalsha` in cluster pipelines; the raw command routes by its keys.
                        pipe.execute_command("EVALSHA", self._sha, len(keys), *keys, *args)
                    return cast(list[object], await pipe.execute())
            except NoScriptError:
                if attempt:
                    raise
                self._sha = ""
        raise AssertionError("unreachable")


async def get_many(redis: Redis, keys: list[str]) -> list[str | None]:
    """The values of `keys` (None where absent), without a cross-slot MGET."""
    if not keys:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.get(key)
        return cast(list[str | None], await pipe.execute())


async def any_exist(redis: Redis, keys: list[str]) -> bool:
    """Whether any of `keys` exists, without a cross-slot EXISTS (one pipelined round trip)."""
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.exists(key)
        return any(await pipe.execute())


class NodePipelines:
    """Integer-reply script calls sent to each primary over a raw connection of its own, all nodes
    at once.

    redis-py's cluster pipeline routes and wraps every command one by one, and even a plain
    redis-py pipeline packs each command and parses each reply in Python at ~150 µs apiece; with one
    call per hash slot (a batch of 1000 feeds spans ~970 slots) that, not Redis, bounded fan-out on a
    cluster (~9-20k deliveries/s against ~230k on one server). Here the slot map is read once per
    batch, each node's calls go out as one buffer of RESP and the replies (integers) are read back
    as lines. A call a node refuses (MOVED or ASK while slots move, NOSCRIPT after a restart) or a
    node that fails is sent again through the cluster path (`ClusterScript`), which follows
    redirections and refreshes the slot map; the insert scripts are idempotent, so sending one
    twice changes nothing.
    """

    def __init__(self, redis: Redis, fallback: ClusterScript, source: str) -> None:
        self._cluster = cast(RedisCluster, redis)
        self._fallback = fallback
        self._sha = hashlib.sha1(source.encode()).hexdigest().encode()
        self._connections: dict[str, _NodeConnection] = {}

    async def run_grouped(self, groups: list[list[str]], args: list[str | int]) -> list[object]:
        """As ClusterScript.run_grouped: one call per key group, the (integer) replies in group order."""
        per_node: dict[str, tuple[ClusterNode, list[int]]] = {}
        nodes = self._cluster.nodes_manager
        for index, keys in enumerate(groups):
            node = nodes.get_node_from_slot(key_slot(keys[0].encode()))
            per_node.setdefault(node.name, (node, []))[1].append(index)
        replies: list[object] = [None] * len(groups)
        retry: list[int] = []
        tail = [str(arg).encode() for arg in args]

        async def send(node: ClusterNode, indexes: list[int]) -> None:
            commands = b"".join(
                _command(
                    [b"EVALSHA", self._sha, str(len(groups[i])).encode(), *map(str.encode, groups[i]), *tail]
                )
                for i in indexes
            )
            connection = self._connection(node)
            try:
                answers = await connection.call(commands, len(indexes))
            except (OSError, TimeoutError, ValueError):
                await connection.close()
                self._connections.pop(node.name, None)
                retry.extend(indexes)
                return
            for index, answer in zip(indexes, answers, strict=True):
                if answer is None:
                    retry.append(index)
                else:
                    replies[index] = answer

        await asyncio.gather(*(send(node, indexes) for node, indexes in per_node.values()))
        if retry:
            retry.sort()
            again = await self._fallback.run_grouped([groups[i] for i in retry], args)
            for index, answer in zip(retry, again, strict=True):
                replies[index] = answer
        return replies

    def _connection(self, node: ClusterNode) -> _NodeConnection:
        connection = self._connections.get(node.name)
        if connection is None:
            options = self._cluster.get_connection_kwargs()
            connection = _NodeConnection(
                node.host,
                int(node.port),
                options.get("username"),
                options.get("password"),
                float(options.get("socket_timeout") or 5.0),
            )
            self._connections[node.name] = connection
        return connection

    async def close(self) -> None:
        for connection in self._connections.values():
            await connection.close()
        self._connections.clear()


def _command(parts: list[bytes]) -> bytes:
    """One command in RESP."""
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


class _NodeConnection:
    """One raw connection to a node, used by one batch at a time."""

    def __init__(self, host: str, port: int, username: Any, password: Any, timeout: float) -> None:
        self._host = host
        self._port = port
        self._auth = [part.encode() for part in (username, password) if part]
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def call(self, commands: bytes, count: int) -> list[int | None]:
        """Send `count` commands; each reply's integer, or None where the node answered an error.
        Raises ValueError on any other reply (the connection is then closed by the caller)."""
        async with self._lock, asyncio.timeout(self._timeout):
            reader, writer = await self._open()
            writer.write(commands)
            await writer.drain()
            answers: list[int | None] = []
            for _ in range(count):
                line = await reader.readline()
                if line[:1] == b":":
                    answers.append(int(line[1:-2]))
                elif line[:1] == b"-":
                    answers.append(None)
                else:
                    raise ValueError(f"unexpected reply {line[:40]!r}")
            return answers

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._streams is None:
            reader, writer = await asyncio.open_connection(self._host, self._port)
            if self._auth:
                writer.write(_command([b"AUTH", *self._auth]))
                await writer.drain()
                if not (await reader.readline()).startswith(b"+OK"):
                    writer.close()
                    raise OSError("the node refused the credentials")
            self._streams = (reader, writer)
        return self._streams

    async def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
