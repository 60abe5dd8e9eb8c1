"""The baseline of the live stream: a bare Redis pub/sub -> Server-Sent Events server.

asyncio (uvloop) streams, no framework: a request line and headers, the JWT checked with PyJWT,
then a chunked text/event-stream response. One pub/sub connection subscribes the channel of every
user with a stream open; a message is written to each of that user's streams as one SSE frame; one
timer writes a heartbeat to every stream. No per-stream queue, replay, revocation or overload
handling: what holding and feeding the streams costs at the least.

Run as `python -m bench.bare_sse` with a JSON config on stdin ({redis_url, channel_prefix,
heartbeat_seconds, jwt: {secret, algorithm, audience, issuer}}); prints `PORT <n>` once it listens,
serves until SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections import defaultdict
from typing import Any

import jwt
import orjson
import uvloop
from redis.asyncio import Redis

HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
UNAUTHORIZED = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
OPENING = b"retry: 3000\n: connected\n\n"
HEARTBEAT = b": heartbeat\n\n"
MAX_HEAD_BYTES = 8192
HEAD_SECONDS = 10.0


def chunk(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(body), body)


class BareStreams:
    def __init__(self, config: dict[str, Any]) -> None:
        self.redis = Redis.from_url(config["redis_url"])
        self.pubsub = self.redis.pubsub()
        self.prefix: str = config["channel_prefix"]
        self.heartbeat = float(config["heartbeat_seconds"])
        self.jwt: dict[str, str] = config["jwt"]
        self.streams: dict[bytes, set[asyncio.StreamWriter]] = defaultdict(set)
        self.sequence = 0

    def user_of(self, head: bytes) -> str | None:
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"authorization":
                token = value.strip().removeprefix(b"Bearer ").decode()
                with contextlib.suppress(jwt.PyJWTError):
                    claims = jwt.decode(
                        token,
                        self.jwt["secret"],
                        algorithms=[self.jwt["algorithm"]],
                        audience=self.jwt["audience"],
                        issuer=self.jwt["issuer"],
                    )
                    return str(claims["user_id"])
        return None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        channel = b""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_SECONDS)
            user = self.user_of(head[:MAX_HEAD_BYTES])
            if user is None:
                writer.write(UNAUTHORIZED)
                return
            channel = f"{self.prefix}{user}".encode()
            if channel not in self.streams:
                await self.pubsub.subscribe(channel)
            self.streams[channel].add(writer)
            writer.write(HEAD + chunk(OPENING))
            await reader.read()  # until the client leaves
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            streams = self.streams.get(channel)
            if streams is not None:
                streams.discard(writer)
                if not streams:
                    del self.streams[channel]
                    with contextlib.suppress(Exception):
                        await self.pubsub.unsubscribe(channel)
            writer.close()

    async def dispatch(self) -> None:
        while True:
            message = await self.pubsub.get_message(timeout=1.0)
            if message is None or message["type"] not in ("message", b"message"):
                continue
            self.sequence += 1
            # The published payload is the event's data (JSON); the event name is `update`.
            frame = chunk(b"id: %d\nevent: update\ndata: %s\n\n" % (self.sequence, message["data"]))
            for writer in self.streams.get(message["channel"], ()):
                writer.write(frame)

    async def beat(self) -> None:
        frame = chunk(HEARTBEAT)
        while True:
            await asyncio.sleep(self.heartbeat)
            for streams in list(self.streams.values()):
                for writer in streams:
                    writer.write(frame)


async def main_async(config: dict[str, Any]) -> None:
    streams = BareStreams(config)
    # Connected (and listening) before the first stream subscribes: one connection, no race to open it.
    await streams.pubsub.subscribe(f"{streams.prefix}control")
    server = await asyncio.start_server(streams.serve, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(streams.dispatch()), asyncio.create_task(streams.beat())]
    print(f"PORT {port}", flush=True)
    await stop.wait()
    server.close()
    for task in tasks:
        task.cancel()
    with contextlib.suppress(Exception):
        await streams.pubsub.aclose()
        await streams.redis.aclose()


def main() -> None:
    config = orjson.loads(sys.stdin.buffer.readline())
    uvloop.run(main_async(config))


if __name__ == "__main__":
    main()
