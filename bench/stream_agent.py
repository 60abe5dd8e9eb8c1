"""The live stream's client side: many Server-Sent Events streams held by one asyncio process over
raw sockets (an HTTP/1.1 GET, then the chunked event stream read as it comes).

Tasks (`python -m bench.stream_agent`, JSON on stdin, JSON on stdout; bench.loadgen.run_agent):
- `hold`: open one stream per token, hold them all idle for a while, and report the server's
  resident memory (/proc/<pid>/status), its CPU, and the heartbeat gaps every stream saw.
- `delivery`: open one stream per token, then post (POST /tweet, or PUBLISH for the bare
  baseline) one item at a time and time its `update` event on every stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import resource
import secrets
import sys
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import uvloop
from redis.asyncio import Redis

from bench import cpu
from bench.stats import latency_summary, percentile

OPEN_CONCURRENCY = 64
OPEN_TIMEOUT_SECONDS = 30.0
FRAME_END = b"\n\n"


def raise_open_files_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit: one descriptor per stream."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in KiB."""
    values = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values


@dataclass
class Stream:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    heartbeats: list[float] = field(default_factory=list)
    closed_at: float | None = None


@dataclass
class Streams:
    """The open streams and what they received; `on_update(data, time)` sees every update's data."""

    url: str
    streams: list[Stream] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    on_update: Callable[[bytes, float], None] | None = None
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def open_all(self, tokens: list[str]) -> float:
        """Open one stream per token, OPEN_CONCURRENCY at a time; returns the seconds it took."""
        started = time.perf_counter()
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)

        async def one(token: str) -> None:
            async with gate:
                try:
                    stream = await asyncio.wait_for(self._open(token), OPEN_TIMEOUT_SECONDS)
                except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
                    self.failures[str(exc)[:80] or type(exc).__name__] += 1
                    return
            self.streams.append(stream)
            self._readers.append(asyncio.create_task(self._read(stream)))

        await asyncio.gather(*(one(token) for token in tokens))
        return time.perf_counter() - started

    async def _open(self, token: str) -> Stream:
        parts = urllib.parse.urlsplit(self.url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        )
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"200":
            writer.close()
            raise ValueError(
                f"answered {status.decode()}: {(await reader.read(300)).decode(errors='replace')}"
            )
        # The opening frame (`retry:` and a comment): the stream is subscribed from here on.
        await reader.readuntil(FRAME_END)
        return Stream(reader, writer)

    async def _read(self, stream: Stream) -> None:
        pending = b""
        try:
            while data := await stream.reader.read(65536):
                now = time.perf_counter()
                frames = (pending + data).split(FRAME_END)
                pending = frames.pop()
                for frame in frames:
                    # Chunk-size lines of the transfer encoding may precede a frame; they never match.
                    if b": heartbeat" in frame:
                        stream.heartbeats.append(now)
                    elif b"event: update" in frame and self.on_update is not None:
                        self.on_update(frame, now)
        except OSError:
            pass
        stream.closed_at = time.perf_counter()

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        for stream in self.streams:
            stream.writer.close()
        await asyncio.gather(*self._readers, return_exceptions=True)


def heartbeat_gaps(streams: list[Stream], start: float, end: float) -> dict[str, Any]:
    """The longest wait between heartbeats per stream within [start, end] (the wait still running
    at `end` included), summarised over the streams."""
    longest = []
    silent = 0
    for stream in streams:
        beats = [moment for moment in stream.heartbeats if start <= moment <= end]
        silent += not beats
        # The waits cut by the window's edges count too: each is at most the real one.
        stop = end if stream.closed_at is None else min(end, max(start, stream.closed_at))
        marks = [start, *beats, stop]
        longest.append(max(later - earlier for earlier, later in itertools.pairwise(marks)))
    return {
        "max_s": round(max(longest), 3) if longest else None,
        "p99_s": round(percentile(longest, 99), 3) if longest else None,
        "p50_s": round(percentile(longest, 50), 3) if longest else None,
        "streams_without_heartbeat": silent,
    }


async def hold(task: dict[str, Any]) -> dict[str, Any]:
    server_pid = int(task["server_pid"])
    limit = raise_open_files_limit()
    streams = Streams(task["url"])
    before = memory_kib(server_pid)
    open_seconds = await streams.open_all(task["tokens"])
    opened = memory_kib(server_pid)
    cpu_before, wall_before = cpu.process_cpu_seconds(server_pid), time.perf_counter()
    await asyncio.sleep(float(task["hold_seconds"]))
    wall_after, cpu_after = time.perf_counter(), cpu.process_cpu_seconds(server_pid)
    held = memory_kib(server_pid)
    gaps = heartbeat_gaps(streams.streams, wall_before, wall_after)
    lost = sum(1 for stream in streams.streams if stream.closed_at is not None)
    await streams.close()
    open_count = len(streams.streams)
    cores = (
        (cpu_after - cpu_before) / (wall_after - wall_before)
        if cpu_before is not None and cpu_after is not None
        else None
    )
    return {
        "requested": len(task["tokens"]),
        "opened": open_count,
        "failures": dict(streams.failures),
        "lost_while_held": lost,
        "open_seconds": round(open_seconds, 2),
        "hold_seconds": round(wall_after - wall_before, 2),
        "open_files_limit": limit,
        "memory_kib": {"before": before, "opened": opened, "held": held},
        "rss_mib": round(held.get("VmRSS", 0) / 1024, 1),
        "kib_per_stream": round((held.get("VmRSS", 0) - before.get("VmRSS", 0)) / open_count, 2)
        if open_count
        else None,
        "server_cores": None if cores is None else round(cores, 4),
        "heartbeat_gap": gaps,
    }


@dataclass
class Arrivals:
    """When each item's `update` reached each stream: item id -> arrival times."""

    expected: int
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    complete: dict[str, asyncio.Event] = field(default_factory=dict)

    def seen(self, frame: bytes, now: float) -> None:
        data = b"".join(line[6:] for line in frame.split(b"\n") if line.startswith(b"data: "))
        with contextlib.suppress(orjson.JSONDecodeError, TypeError, KeyError):
            item_id = str(orjson.loads(data)["id"])
            arrivals = self.times[item_id]
            arrivals.append(now)
            if len(arrivals) >= self.expected:
                self.event(item_id).set()

    def event(self, item_id: str) -> asyncio.Event:
        return self.complete.setdefault(item_id, asyncio.Event())


async def delivery(task: dict[str, Any]) -> dict[str, Any]:
    raise_open_files_limit()
    streams = Streams(task["url"])
    await streams.open_all(task["tokens"])
    arrivals = Arrivals(len(streams.streams))
    streams.on_update = arrivals.seen
    pids = {name: int(pid) for name, pid in task.get("pids", {}).items()}
    every: list[float] = []
    last: list[float] = []
    incomplete = 0
    post, close_poster = await _poster(task)
    try:
        await asyncio.sleep(0.5)  # the last subscriptions confirmed
        before = cpu.snapshot(pids)
        for _ in range(int(task["posts"])):
            item_id, started = await post()
            try:
                await asyncio.wait_for(arrivals.event(item_id).wait(), float(task["timeout_seconds"]))
            except TimeoutError:
                incomplete += 1
            times = arrivals.times.get(item_id, [])
            every.extend(moment - started for moment in times)
            if times and len(times) >= arrivals.expected:
                last.append(max(times) - started)
            await asyncio.sleep(float(task["gap_seconds"]))
        usage = cpu.usage(before, cpu.snapshot(pids))
    finally:
        await close_poster()
        await streams.close()
    return {
        "streams": len(streams.streams),
        "failures": dict(streams.failures),
        "posts": int(task["posts"]),
        "incomplete_posts": incomplete,
        "deliveries": len(every),
        "latency_ms": latency_summary(every),
        "last_stream_latency_ms": latency_summary(last),
        "cpu": usage.as_dict(),
    }


async def _poster(
    task: dict[str, Any],
) -> tuple[Callable[[], Awaitable[tuple[str, float]]], Callable[[], Awaitable[None]]]:
    """What makes one item: (its id, when the clock starts) — the fleet's 201, or the bare PUBLISH."""
    if task["mode"] == "fleet":
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        headers = {"Authorization": f"Bearer {task['poster_token']}"}

        async def post_tweet() -> tuple[str, float]:
            body = {"content": f"live delivery {secrets.token_hex(4)}"}
            async with session.post(f"{task['tweets_url']}/tweet", json=body, headers=headers) as response:
                answer = await response.json()
                if response.status != 201:
                    raise RuntimeError(f"POST /tweet answered {response.status}: {answer}")
            return str(answer["id"]), time.perf_counter()

        return post_tweet, session.close

    redis = Redis.from_url(task["redis_url"])
    channels = [f"{task['channel_prefix']}{user}" for user in task["recipients"]]
    batch = int(task.get("batch_size", 1000))

    async def publish() -> tuple[str, float]:
        item_id = secrets.token_hex(8)
        data = orjson.dumps({"id": item_id})
        started = time.perf_counter()
        # Every recipient's channel, pipelined in batches (as the feed worker publishes a page).
        for offset in range(0, len(channels), batch):
            async with redis.pipeline(transaction=False) as pipe:
                for channel in channels[offset : offset + batch]:
                    pipe.publish(channel, data)
                await pipe.execute()
        return item_id, started

    return publish, redis.aclose


TASKS = {"hold": hold, "delivery": delivery}


def main() -> None:
    task: dict[str, Any] = orjson.loads(sys.stdin.buffer.read())
    result = uvloop.run(TASKS[task["task"]](task))
    sys.stdout.buffer.write(orjson.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
