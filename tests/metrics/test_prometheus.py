"""A real Prometheus (Debian's package) on loopback, with the repository's scrape config and alert
rules (targets rewritten to this fleet's ports, 1 s intervals), scrapes every process of the fleet
and fires the dead-letter alert when one is forced."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devtools.fleet import Fleet
from devtools.scrape import force_dead_letter, scrape_targets
from devtools.tcp_proxy import free_port
from devtools.testing import wait_for

pytestmark = pytest.mark.e2e
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _unix(rfc3339: str) -> float:
    """Prometheus' timestamps carry nanoseconds, which datetime does not parse: the fraction apart."""
    whole, _, fraction = rfc3339.rstrip("Z").partition(".")
    return datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp() + float(f"0.{fraction or 0}")


def _config(targets: dict[str, str]) -> dict[str, Any]:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    return config


@pytest.fixture
async def prometheus(metrics_fleet: Fleet, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip(
            "prometheus is not installed (apt-get install -y prometheus; scripts/ensure-services.sh does)"
        )
    shutil.copy(DEPLOY / "alerts.yml", tmp_path / "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(_config(scrape_targets(metrics_fleet.settings))))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            async def ready() -> bool:
                assert process.returncode is None, (tmp_path / "prometheus.log").read_text()
                with contextlib.suppress(httpx.HTTPError):
                    return (await client.get("/-/ready")).status_code == 200
                return False

            await wait_for(ready, timeout=30, interval=0.2)
            yield client
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


async def test_prometheus_scrapes_every_process_and_fires_the_dead_letter_alert(
    metrics_fleet: Fleet, prometheus: httpx.AsyncClient
) -> None:
    jobs = set(scrape_targets(metrics_fleet.settings))

    async def every_target_up() -> bool:
        active = (await prometheus.get("/api/v1/targets")).json()["data"]["activeTargets"]
        return {target["labels"]["job"] for target in active if target["health"] == "up"} == jobs

    await wait_for(every_target_up, timeout=30, interval=0.5)

    async def firing(alert: str) -> list[dict[str, Any]]:
        alerts = (await prometheus.get("/api/v1/alerts")).json()["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == alert and a["state"] == "firing"]

    async def fired_for_search_tweets() -> bool:
        # Other queues may already hold dead letters from earlier tests of the session.
        return "search_tweets" in {alert["labels"]["queue"] for alert in await firing("DeadLetters")}

    # Proof that the rules ran on these targets (not a sleep): every rule group evaluated after the
    # moment all were up. Then not even a pending TargetDown may exist (it fires only after 1m).
    all_up = time.time()

    async def evaluated_since_all_up() -> bool:
        groups = (await prometheus.get("/api/v1/rules")).json()["data"]["groups"]
        return bool(groups) and all(_unix(group["lastEvaluation"]) > all_up for group in groups)

    await wait_for(evaluated_since_all_up, timeout=30, interval=0.2)
    alerts = (await prometheus.get("/api/v1/alerts")).json()["data"]["alerts"]
    assert not [a for a in alerts if a["labels"]["alertname"] == "TargetDown"], alerts
    assert not await fired_for_search_tweets()
    await force_dead_letter(metrics_fleet.settings, "search_tweets")
    await wait_for(fired_for_search_tweets, timeout=30, interval=0.5)
