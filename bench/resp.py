"""Raw Redis protocol (RESP): encode commands once, send them in one pipelined stream.

Used where redis-py's per-command packing would itself be the bottleneck: the data prefill, the
`redis-cli --pipe` fan-out baseline and the bare tweet-to-feed script.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Iterable


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(bulk(arg) for arg in args)


def push_and_trim(keys: Iterable[bytes], value: bytes, keep: int = 1000) -> tuple[bytes, int]:
    """LPUSH value + LTRIM 0 keep-1 on every key: the bytes and how many replies they produce."""
    encoded_value = bulk(value)
    trim_tail = bulk(b"0") + bulk(str(keep - 1).encode())
    parts = []
    count = 0
    for key in keys:
        encoded_key = bulk(key)
        parts.append(b"*3\r\n$5\r\nLPUSH\r\n" + encoded_key + encoded_value)
        parts.append(b"*4\r\n$5\r\nLTRIM\r\n" + encoded_key + trim_tail)
        count += 2
    return b"".join(parts), count


def redis_address(url: str) -> tuple[str, int, int]:
    """(host, port, db) of a redis:// URL."""
    parts = urllib.parse.urlsplit(url)
    db = int(parts.path.lstrip("/") or 0)
    return parts.hostname or "127.0.0.1", parts.port or 6379, db


class RawRedis:
    """One connection that writes pre-encoded commands and counts the replies.

    Only for commands whose replies are single lines (integers, +OK, errors): the replies are
    counted by their line ends, which is what keeps this as cheap as `redis-cli --pipe`.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, url: str) -> RawRedis:
        host, port, db = redis_address(url)
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        await client.send(command(b"SELECT", str(db).encode()), 1)
        return client

    async def send(self, payload: bytes, replies: int) -> int:
        """Write `payload`, wait for `replies` single-line replies; returns how many were errors."""
        self._writer.write(payload)
        errors = 0
        seen = 0
        buffer = b""
        while seen < replies:
            chunk = await self._reader.read(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            buffer += chunk
            lines = buffer.split(b"\r\n")
            buffer = lines.pop()
            seen += len(lines)
            errors += sum(1 for line in lines if line.startswith(b"-"))
        await self._writer.drain()
        return errors

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except ConnectionError:
            pass
