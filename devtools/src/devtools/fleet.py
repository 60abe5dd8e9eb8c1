"""The local fleet supervisor behind `make run`, the end-to-end tests and the benchmark.

Checks that PostgreSQL, Redis and RabbitMQ answer (and says how to start them if not), migrates
every database, starts the eight processes with a prefix on each log line, and stops them all on
Ctrl-C (or when one of them dies).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.settings import Settings


@dataclass(frozen=True)
class Process:
    name: str
    command: tuple[str, ...]
    listens: str = ""
    migrate: tuple[str, ...] | None = None


def fleet_processes(settings: Settings) -> list[Process]:
    def listens(section: str) -> str:
        service = getattr(settings, section)
        return f"REST http://{service.host}:{service.rest_port}  gRPC {service.host}:{service.grpc_port}"

    return [
        Process("users", ("users", "serve"), listens("userservice"), ("users", "migrate")),
        Process("tweets", ("tweets", "serve"), listens("tweetservice"), ("tweets", "migrate")),
        Process("feed", ("feed", "serve"), listens("feedservice")),
        Process("search", ("search", "serve"), listens("searchservice"), ("search", "migrate")),
        Process(
            "notifications",
            ("notifications", "serve"),
            listens("notificationservice"),
            ("notifications", "migrate"),
        ),
        Process("feed_worker", ("feed-worker",)),
        Process("search_worker", ("search-worker",)),
        Process("notification_worker", ("notification-worker",)),
    ]


HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
    "RabbitMQ": "rabbitmq-server -detached",
}


def unreachable_dependencies(settings: Settings) -> list[str]:
    """The dependencies that do not accept a TCP connection, each with how to start it."""
    redis = urllib.parse.urlsplit(settings.redis.url)
    amqp = urllib.parse.urlsplit(settings.rabbitmq.url.get_secret_value())
    targets = {
        "PostgreSQL": (settings.database.host, settings.database.port),
        "Redis": (redis.hostname or "127.0.0.1", redis.port or 6379),
        "RabbitMQ": (amqp.hostname or "127.0.0.1", amqp.port or 5672),
    }
    down = []
    for name, (host, port) in targets.items():
        try:
            socket.create_connection((host, port), timeout=2).close()
        except OSError:
            down.append(f"{name} is not reachable at {host}:{port}. Start it with:  {HOW_TO_START[name]}")
    return down


COLORS = ["\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m", "\033[31m", "\033[96m", "\033[95m"]
RESET = "\033[0m"


@dataclass
class Fleet:
    settings: Settings
    env: Mapping[str, str] = field(default_factory=dict)
    log_prefix: bool = True
    children: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    _pumps: list[asyncio.Task[None]] = field(default_factory=list)

    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}

    async def migrate(self) -> None:
        """Migrate every database at once (each in its own process, as `<service> migrate`)."""

        async def one(process: Process) -> None:
            assert process.migrate is not None
            child = await asyncio.create_subprocess_exec(
                *process.migrate,
                env=self._env(),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await child.communicate()
            if child.returncode != 0:
                raise RuntimeError(f"migrating {process.name} failed:\n{output.decode(errors='replace')}")

        await asyncio.gather(*(one(p) for p in fleet_processes(self.settings) if p.migrate is not None))

    async def start(self) -> None:
        use_color = sys.stdout.isatty()
        for index, process in enumerate(fleet_processes(self.settings)):
            child = await asyncio.create_subprocess_exec(
                *process.command,
                env=self._env(),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops the children in order
            )
            self.children[process.name] = child
            color = COLORS[index % len(COLORS)] if use_color else ""
            prefix = f"{color}{process.name:>13} |{RESET if use_color else ''} "
            assert child.stdout is not None
            self._pumps.append(asyncio.create_task(self._pump(child.stdout, prefix)))

    async def _pump(self, stream: asyncio.StreamReader, prefix: str) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            sys.stdout.write(f"{prefix}{text}\n" if self.log_prefix else f"{text}\n")
            sys.stdout.flush()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until every REST service answers /ready with 200."""
        import httpx

        deadline = time.monotonic() + timeout
        sections = ("userservice", "tweetservice", "feedservice", "searchservice", "notificationservice")
        async with httpx.AsyncClient(timeout=2) as client:
            for section in sections:
                service = getattr(self.settings, section)
                url = f"http://{service.host}:{service.rest_port}/ready"
                while True:
                    self._raise_if_dead()
                    try:
                        if (await client.get(url)).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{section} not ready at {url} after {timeout}s")
                    await asyncio.sleep(0.2)

    def _raise_if_dead(self) -> None:
        for name, child in self.children.items():
            if child.returncode is not None:
                raise RuntimeError(f"{name} exited with code {child.returncode}")

    async def wait_any_exit(self) -> str:
        waits = {asyncio.create_task(child.wait()): name for name, child in self.children.items()}
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return waits[next(iter(done))]

    async def stop(self, grace: float = 15.0) -> None:
        for child in self.children.values():
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.children.values():
            try:
                await asyncio.wait_for(child.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                child.kill()
                await child.wait()
        for pump in self._pumps:
            pump.cancel()


async def run_forever(settings: Settings) -> int:
    down = unreachable_dependencies(settings)
    if down:
        print("The fleet needs PostgreSQL, Redis and RabbitMQ:\n  " + "\n  ".join(down), file=sys.stderr)
        print("(`bash scripts/ensure-services.sh` installs and starts all three.)", file=sys.stderr)
        return 1
    fleet = Fleet(settings)
    print("migrating databases ...")
    await fleet.migrate()
    await fleet.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await fleet.wait_ready()
        print("\nthe fleet is up:")
        for process in fleet_processes(settings):
            print(f"  {process.name:>13}  {process.listens or 'worker'}")
        print("Ctrl-C stops everything.\n")
    except (TimeoutError, RuntimeError) as exc:
        print(f"start-up failed: {exc}", file=sys.stderr)
        await fleet.stop()
        return 1
    stop_task = asyncio.create_task(stop.wait())
    exit_task = asyncio.create_task(fleet.wait_any_exit())
    done, _ = await asyncio.wait({stop_task, exit_task}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if exit_task in done:
        print(f"\n{exit_task.result()} exited; stopping the fleet", file=sys.stderr)
        code = 1
    print("\nstopping ...")
    await fleet.stop()
    return code


def main() -> None:
    from shared.cli import load_settings_or_exit

    raise SystemExit(asyncio.run(run_forever(load_settings_or_exit())))


if __name__ == "__main__":
    main()
