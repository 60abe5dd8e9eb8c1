"""A throwaway 3-master Redis Cluster on loopback, for tests and the bench: three `redis-server
--cluster-enabled yes` processes on free ports in a temporary folder, joined by `redis-cli --cluster
create`. Nothing is persisted; stopping it kills the three processes and removes the folder."""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from redis.asyncio import Redis, RedisCluster

from shared.lifecycle import is_cluster
from shared.settings import Settings

MASTERS = 3
START_SECONDS = 30.0


def missing_tools() -> str:
    """Why a cluster cannot be started here ("" when it can)."""
    absent = [tool for tool in ("redis-server", "redis-cli") if shutil.which(tool) is None]
    return (
        f"{' and '.join(absent)} not installed (scripts/ensure-services.sh installs them)" if absent else ""
    )


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000, so the port must stay under 55536) is free too."""
    while True:
        port = random.randrange(20_000, 45_000)
        try:
            for candidate in (port, port + 10_000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


def _cli(port: int, *args: str, timeout: float = 10.0) -> str:
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args], check=True, capture_output=True, text=True, timeout=timeout
    ).stdout.strip()


def _wait(ready: object, what: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(subprocess.SubprocessError):
            if callable(ready) and ready():
                return
        time.sleep(0.1)
    raise RuntimeError(f"redis cluster: {what} within {START_SECONDS}s")


@contextlib.contextmanager
def redis_cluster() -> Iterator[str]:
    """Start the cluster; yields the URL of one of its nodes (clients discover the others)."""
    if reason := missing_tools():
        raise RuntimeError(reason)
    folder = Path(tempfile.mkdtemp(prefix="fleet-redis-cluster-"))
    ports = [_cluster_port() for _ in range(MASTERS)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            node = folder / str(port)
            node.mkdir()
            processes.append(
                subprocess.Popen(
                    [
                        "redis-server",
                        "--port", str(port),
                        "--bind", "127.0.0.1",
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", str(node / "nodes.conf"),
                        "--cluster-node-timeout", "5000",
                        "--dir", str(node),
                        "--save", "",
                        "--appendonly", "no",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        for port in ports:
            _wait(lambda port=port: _cli(port, "ping") == "PONG", f"node {port} did not start")
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in ports:
            _wait(
                lambda port=port: "cluster_state:ok" in _cli(port, "cluster", "info"),
                f"node {port} did not join",
            )
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def on_cluster(settings: Settings, url: str) -> Settings:
    """`settings` with Redis pointed at the cluster whose node `url` is."""
    redis = settings.redis.model_copy(update={"url": url, "cluster": True})
    return settings.model_copy(update={"redis": redis})


# The values of the `redis` fixture's indirect parametrization.
REDIS_MODES = ("single", "cluster")


def settings_for(settings: Settings, client: Redis) -> Settings:
    """`settings` pointed at the Redis `client` talks to when that is a cluster (else unchanged)."""
    if not is_cluster(client):
        return settings
    node = cast(RedisCluster, client).get_default_node()
    return on_cluster(settings, f"redis://{node.host}:{node.port}/0")
