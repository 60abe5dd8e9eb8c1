"""The two load shapes, for any async operation (an HTTP request, or a bare Redis + SQL script).

closed_loop: `concurrency` workers, each issuing the next operation as soon as the last answered,
until `duration` passes or `max_operations` have been issued; latency = answer - send.

open_loop: operations are started at a fixed `rate`, whether or not earlier ones have answered
(DeathStarBench's wrk2 does the same). Latency is measured from the moment an operation was due,
not from when it was sent, so a generator or server that falls behind shows up in the latency
instead of silently lowering the offered rate (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bench.stats import latency_summary

# An operation returns True when it succeeded (e.g. a 2xx answer).
Operation = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class WeightedOperation:
    name: str
    weight: float
    run: Operation


class Mix:
    """Picks operations at random by weight."""

    def __init__(self, operations: Sequence[WeightedOperation], seed: int | None = None) -> None:
        self._operations = list(operations)
        self._cumulative = list(itertools.accumulate(operation.weight for operation in operations))
        self._random = random.Random(seed)

    def pick(self) -> WeightedOperation:
        point = self._random.random() * self._cumulative[-1]
        return self._operations[bisect.bisect_right(self._cumulative, point)]


@dataclass
class Recording:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    duration: float = 0.0
    offered_rate: float | None = None

    def record(self, name: str, seconds: float, ok: bool) -> None:
        if ok:
            self.latencies.setdefault(name, []).append(seconds)
        else:
            self.errors[name] = self.errors.get(name, 0) + 1

    def summary(self) -> dict[str, object]:
        every = [value for values in self.latencies.values() for value in values]
        errors = sum(self.errors.values()) + self.dropped
        total = len(every) + errors
        return {
            "requests": total,
            "ok": len(every),
            "errors": errors,
            "error_rate": round(errors / total, 5) if total else 0.0,
            "dropped": self.dropped,
            "duration_s": round(self.duration, 3),
            "rps": round(len(every) / self.duration, 2) if self.duration else 0.0,
            "offered_rps": self.offered_rate,
            "latency_ms": latency_summary(every),
            "by_kind": {
                name: {
                    "ok": len(values),
                    "errors": self.errors.get(name, 0),
                    "latency_ms": latency_summary(values),
                }
                for name, values in sorted(self.latencies.items())
            },
        }


async def _run_one(operation: WeightedOperation, started: float, recording: Recording, record: bool) -> None:
    try:
        ok = await operation.run()
    except Exception:
        ok = False
    if record:
        recording.record(operation.name, time.perf_counter() - started, ok)


async def closed_loop(
    mix: Mix, concurrency: int, duration: float, max_operations: int | None = None, warmup: float = 0.0
) -> Recording:
    recording = Recording()
    issued = 0
    begin = time.perf_counter()
    measure_from = begin + warmup
    end = measure_from + duration

    async def worker() -> None:
        nonlocal issued
        while True:
            now = time.perf_counter()
            if now >= end or (max_operations is not None and issued >= max_operations):
                return
            if now >= measure_from:
                issued += 1
            await _run_one(mix.pick(), now, recording, now >= measure_from)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    recording.duration = time.perf_counter() - measure_from
    return recording


async def open_loop(
    mix: Mix, rate: float, duration: float, warmup: float = 0.0, max_in_flight: int = 1024
) -> Recording:
    """Start operations at `rate` per second for warmup + duration; only the last `duration` counts."""
    recording = Recording(offered_rate=rate)
    interval = 1.0 / rate
    begin = time.perf_counter()
    measure_from = begin + warmup
    end = measure_from + duration
    in_flight: set[asyncio.Task[None]] = set()
    due = begin
    while due < end:
        now = time.perf_counter()
        while due <= now and due < end:
            counted = due >= measure_from
            if len(in_flight) >= max_in_flight:
                # The server (or this generator) is hopelessly behind: count it, do not pile up.
                recording.dropped += counted
            else:
                task = asyncio.create_task(_run_one(mix.pick(), due, recording, counted))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            due += interval
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
    if in_flight:
        # Answers still owed after the window end are waited for (bounded), not forgotten.
        _done, pending = await asyncio.wait(in_flight, timeout=10.0)
        for task in pending:
            task.cancel()
        recording.dropped += len(pending)
    recording.duration = duration
    return recording
