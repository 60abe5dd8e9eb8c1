"""The out-of-process side of the benchmark: load generation and the bare baselines.

Run as `python -m bench.agent` with a JSON task on stdin; prints one JSON result on stdout. Each
task runs in its own process, apart from the fleet and from the harness, so its CPU use can be
measured (and reported) separately.
"""

from __future__ import annotations

import contextlib
import functools
import resource
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import orjson
import uvloop

from bench import bare_indexing, baselines, cpu
from bench.driver import Mix, Recording, closed_loop, open_loop
from bench.ops_bare import bare_clients, bare_mix
from bench.ops_discovery import discovery_mix
from bench.ops_http import client_session, http_mix
from bench.sweep import RateSearch, closed_sweep_done, holds

Task = dict[str, Any]


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _measured(task: Task, run: Callable[[], Awaitable[Recording]]) -> dict[str, Any]:
    """Run one load step; its summary plus who used the CPU meanwhile (this process = generator)."""
    pids = {name: int(pid) for name, pid in task.get("pids", {}).items()}
    before, own = cpu.snapshot(pids), _own_cpu_seconds()
    recording = await run()
    usage = cpu.usage(before, cpu.snapshot(pids), _own_cpu_seconds() - own)
    return {**recording.summary(), "cpu": usage.as_dict()}


@contextlib.asynccontextmanager
async def _mix(task: Task, connections: int) -> AsyncIterator[Mix]:
    """The operations of the task: HTTP requests to the fleet, or the bare baseline's equivalents."""
    if task["ops"] == "http":
        async with client_session(connections) as session:
            yield http_mix(session, task["plan"])
        return
    scratch_queue = f"bench.bare.{secrets.token_hex(4)}"
    async with bare_clients(task, pool_size=min(connections, 30)) as (redis, pool, channel):
        if channel is not None:
            await channel.declare_queue(scratch_queue, durable=True)
        try:
            yield bare_mix(redis, pool, channel, scratch_queue, task["plan"])
        finally:
            if channel is not None:
                await channel.queue_delete(scratch_queue)


async def closed_sweep(task: Task) -> dict[str, Any]:
    """Closed loop at each concurrency level in turn, until the latency limit is clearly passed."""
    limit = float(task["p99_limit_ms"])
    steps: list[dict[str, Any]] = []
    async with _mix(task, max(task["levels"])) as mix:
        for level in task["levels"]:
            run = functools.partial(
                closed_loop,
                mix,
                level,
                float(task["duration"]),
                task.get("max_requests"),
                float(task["warmup"]),
            )
            step = await _measured(task, run)
            steps.append({"concurrency": level, **step})
            if closed_sweep_done(steps, limit, int(task.get("min_concurrency", 0))):
                break
    return {"steps": steps}


async def open_sweep(task: Task) -> dict[str, Any]:
    """Open loop at a rising rate until the latency limit is missed, then bisect to the edge."""
    limit = float(task["p99_limit_ms"])
    search = RateSearch(rate=float(task["start_rate"]), factor=float(task.get("factor", 1.4)))
    steps: list[dict[str, Any]] = []
    async with _mix(task, 1024) as mix:
        rate: float | None = search.rate
        while rate is not None and len(steps) < int(task["max_steps"]):
            run = functools.partial(open_loop, mix, rate, float(task["duration"]), float(task["warmup"]))
            step = await _measured(task, run)
            step["held"] = holds(step, limit)
            steps.append(step)
            rate = search.next_rate(step["held"])
    return {"steps": steps}


async def publish(task: Task) -> dict[str, Any]:
    return await _with_cpu(task, baselines.publish(task))


async def tweet_to_feed(task: Task) -> dict[str, Any]:
    return await _with_cpu(task, baselines.tweet_to_feed(task))


async def search_lag(task: Task) -> dict[str, Any]:
    return await _with_cpu(task, baselines.search_lag(task))


async def discovery_reads(task: Task) -> dict[str, Any]:
    """Closed loop of one discovery read (user search or trends) at one concurrency, fleet or bare."""
    async with discovery_mix(task, int(task["concurrency"])) as mix:
        run = functools.partial(
            closed_loop, mix, int(task["concurrency"]), float(task["duration"]), None, float(task["warmup"])
        )
        return await _measured(task, run)


async def index_with_entities(task: Task) -> dict[str, Any]:
    return await bare_indexing.index_with_entities(task)


async def search_lag_elasticsearch(task: Task) -> dict[str, Any]:
    return await _with_cpu(task, baselines.search_lag_elasticsearch(task))


async def _with_cpu(task: Task, work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    pids = {name: int(pid) for name, pid in task.get("pids", {}).items()}
    before, own = cpu.snapshot(pids), _own_cpu_seconds()
    result = await work
    return {**result, "cpu": cpu.usage(before, cpu.snapshot(pids), _own_cpu_seconds() - own).as_dict()}


TASKS: dict[str, Callable[[Task], Coroutine[Any, Any, dict[str, Any]]]] = {
    "closed_sweep": closed_sweep,
    "open_sweep": open_sweep,
    "publish": publish,
    "tweet_to_feed": tweet_to_feed,
    "search_lag": search_lag,
    "search_lag_elasticsearch": search_lag_elasticsearch,
    "discovery_reads": discovery_reads,
    "index_with_entities": index_with_entities,
}


def main() -> None:
    task: Task = orjson.loads(sys.stdin.buffer.read())
    result: dict[str, Any] = uvloop.run(TASKS[task["task"]](task))
    sys.stdout.buffer.write(orjson.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
