"""Where the fleet's CPU goes: py-spy samples the running processes under load (non-blocking, so
the target is not paused), and the folded stacks are summarised per process:

- self time by function (the frame on top of the stack),
- inclusive time by library / fleet package (a stack counts once per package it passes through),
- inclusive time of the fleet's own functions (frames under */src/<package>/).

py-spy comes from PATH or, failing that, `uvx py-spy` (PyPI). Without it this step is skipped.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.context import Context

FLEET_PACKAGES = ("users", "tweets", "feed", "search", "feed_worker", "search_worker", "shared")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*)\)$")
TOP = 12
# The frames under which everything runs (console script, service_main, run_worker): nothing to learn.
ENTRY_FUNCTIONS = {"<module>", "main", "service_main", "run_service", "run_worker"}


def py_spy_command() -> list[str] | None:
    for candidate in (["py-spy"], ["uvx", "py-spy"]):
        if shutil.which(candidate[0]) is None:
            continue
        try:
            subprocess.run([*candidate, "--version"], capture_output=True, check=True, timeout=300)
        except (subprocess.SubprocessError, OSError):
            continue
        return candidate
    return None


def package_of(path: str) -> str:
    """The library or fleet package a source file belongs to ("stdlib:asyncio" for the standard library)."""
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return path.split(marker, 1)[1].split("/", 1)[0].removesuffix(".py")
    match = re.search(r"/src/([a-z_]+)/", path)
    if match:
        return match.group(1)
    match = re.search(r"/lib/python3[.0-9]*/([^/]+)", path)
    if match:
        return "stdlib:" + match.group(1).removesuffix(".py")
    if "/" not in path:  # the console script's own frame, e.g. "<module> (feed)"
        return "entry point"
    return path.rsplit("/", 1)[-1]


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/src/"):
        if marker in path:
            return path.split(marker, 1)[1]
    match = re.search(r"/lib/python3[.0-9]*/(.+)$", path)
    return match.group(1) if match else path


def summarise(folded: str) -> dict[str, Any]:
    """Top self-time functions, time per package, and the fleet's own hottest functions.

    Package time is self time with the standard library charged to its caller (the deepest
    non-stdlib frame): time in asyncio or json on behalf of SQLAlchemy counts as SQLAlchemy's,
    and the event loop's own time (sockets, callbacks) stays with stdlib:asyncio.
    """
    self_time: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    fleet: Counter[str] = Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match:
                frames.append((match.group("function"), match.group("path")))
        if not frames:
            continue
        total += count
        function, path = frames[-1]
        self_time[f"{function} ({_short(path)})"] += count
        owners = [package_of(path) for _function, path in frames]
        owner = next((name for name in reversed(owners[1:]) if not name.startswith("stdlib:")), owners[-1])
        if owners[-1].startswith("stdlib:asyncio") or owners[-1] == "stdlib:threading":
            owner = owners[-1]
        packages[owner] += count
        for name in {
            f"{function} ({_short(path)})"
            for (function, path), package in zip(frames, owners, strict=True)
            if package in FLEET_PACKAGES and function not in ENTRY_FUNCTIONS
        }:
            fleet[name] += count

    def top(counter: Counter[str], size: int = TOP) -> list[dict[str, Any]]:
        return [{"name": name, "share": round(count / total, 4)} for name, count in counter.most_common(size)]

    return {
        "samples": total,
        "self": top(self_time),
        "packages": top(packages),
        "fleet_functions": top(fleet, 20),
    }


async def record(command: list[str], pid: int, seconds: float, output: Path) -> dict[str, Any]:
    """Sample one process for `seconds`; its summary (or why it could not be sampled)."""
    process = await asyncio.create_subprocess_exec(
        *command, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
        "--rate", "200", "--nonblocking", "--gil", "--nolineno", "--full-filenames", "--format", "raw",
        "--output", str(output),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    log, _ = await process.communicate()
    folded = await asyncio.to_thread(lambda: output.read_text() if output.exists() else None)
    if process.returncode != 0 or folded is None:
        return {"error": log.decode(errors="replace")[-500:]}
    return summarise(folded)


async def profile_during(
    ctx: Context,
    scenario: str,
    processes: list[str],
    load: Callable[[], Awaitable[Any]],
    command: list[str],
    folder: Path,
) -> dict[str, Any]:
    """Run `load` while py-spy samples each named fleet process."""
    seconds = ctx.profile.profile_seconds
    pids = ctx.fleet.pids
    recorders = [
        record(command, pids[name], seconds, folder / f"{scenario}-{name}.folded") for name in processes
    ]
    results = await asyncio.gather(*recorders, load())
    return {name: result for name, result in zip(processes, results, strict=False)}
