"""Starting load generators from the harness: wrk (preferred: C, light on a 2-core machine) or the
Python agent (`bench.agent`, also the home of every bare baseline)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from bench import cpu
from bench.sweep import closed_sweep_done

REPO_ROOT = Path(__file__).resolve().parents[1]
LUA_SCRIPT = Path(__file__).parent / "lua" / "fleet.lua"
AGENT_TIMEOUT_SECONDS = 600


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


async def run_agent(task: Mapping[str, Any], module: str = "bench.agent") -> dict[str, Any]:
    """Run one agent task in a fresh process (`python -m <module>`, JSON in and out); its JSON result."""

    def blocking() -> dict[str, Any]:
        completed = subprocess.run(
            [sys.executable, "-m", module],
            input=orjson.dumps(task),
            capture_output=True,
            cwd=REPO_ROOT,
            timeout=AGENT_TIMEOUT_SECONDS,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"agent task {task['task']} failed:\n{completed.stderr.decode()[-4000:]}")
        result: dict[str, Any] = orjson.loads(completed.stdout)
        return result

    return await asyncio.to_thread(blocking)


def run_with_rusage(
    command: list[str], timeout: float, stdin: Path | None = None
) -> tuple[int, str, str, float]:
    """Run a command; (exit code, stdout, stderr, its CPU seconds) — the CPU from wait4's rusage."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        open(stdin or os.devnull, "rb") as source,
    ):
        process = subprocess.Popen(command, stdin=source, stdout=out, stderr=err)
        try:
            _pid, status, usage = _wait4(process, timeout)
        except TimeoutError:
            process.kill()
            process.wait()
            raise
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return process.returncode, out.read().decode(), err.read().decode(), usage.ru_utime + usage.ru_stime


def _wait4(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, int, Any]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            return pid, status, usage
        if time.monotonic() > deadline:
            raise TimeoutError(f"{process.args!r} still running after {timeout}s")
        time.sleep(0.02)


def parse_wrk(output: str) -> dict[str, Any]:
    line = next(line for line in output.splitlines() if line.startswith("BENCH_JSON "))
    raw = orjson.loads(line.removeprefix("BENCH_JSON "))
    duration = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    ok = max(0, raw["requests"] - raw["status"])
    return {
        "requests": raw["requests"],
        "ok": ok,
        "errors": errors,
        "error_rate": round(errors / raw["requests"], 5) if raw["requests"] else 0.0,
        "duration_s": round(duration, 3),
        "rps": round(ok / duration, 2) if duration else 0.0,
        "offered_rps": None,
        "latency_ms": {
            key: round(raw[key] / 1000, 3) for key in ("p50", "p90", "p99", "p999", "max", "mean")
        },
    }


async def wrk_step(
    url: str,
    mode: str,
    tokens_file: Path,
    connections: int,
    seconds: int,
    pids: Mapping[str, int],
    max_requests: int = 0,
) -> dict[str, Any]:
    """One closed-loop wrk run (one thread) and the CPU use meanwhile."""
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        mode,
        str(tokens_file),
        str(max_requests),
    ]
    before = cpu.snapshot(pids)
    code, out, err, generator_seconds = await asyncio.to_thread(run_with_rusage, command, seconds + 60)
    usage = cpu.usage(before, cpu.snapshot(pids), generator_seconds)
    if code != 0 or "BENCH_JSON" not in out:
        raise RuntimeError(f"wrk failed ({code}): {err or out}")
    return {**parse_wrk(out), "cpu": usage.as_dict(), "generator": "wrk"}


async def wrk_closed_sweep(
    url: str,
    mode: str,
    tokens_file: Path,
    levels: list[int],
    seconds: int,
    p99_limit_ms: float,
    pids: Mapping[str, int],
    min_concurrency: int = 0,
) -> dict[str, Any]:
    """The wrk twin of the agent's closed_sweep."""
    steps: list[dict[str, Any]] = []
    # A one-second warm-up at the first level: connections, JIT of the Lua script, pools.
    await wrk_step(url, mode, tokens_file, levels[0], 1, pids)
    for level in levels:
        step = await wrk_step(url, mode, tokens_file, level, seconds, pids)
        steps.append({"concurrency": level, **step})
        if closed_sweep_done(steps, p99_limit_ms, min_concurrency):
            break
    return {"steps": steps}
