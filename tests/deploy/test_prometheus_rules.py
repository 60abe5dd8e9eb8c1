"""deploy/prometheus: the scrape config covers every process of the fleet, every alert rule has a
unit test, and `promtool` passes them (skipped, saying why, where promtool is not installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from devtools.fleet import fleet_processes
from shared.settings import Settings

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
ALERTS = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
ALERT_TESTS = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())
CONFIG = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
REQUIRED_ALERTS = {
    "TargetDown",
    "OutboxStuck",
    "DeadLetters",
    "OutboxRowsParked",
    "HighErrorRatio",
    "ConsumerBacklogGrowing",
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(
            "promtool is not installed (apt-get install -y prometheus; scripts/ensure-services.sh does)"
        )
    return subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)


def test_every_fleet_process_is_a_scrape_job() -> None:
    jobs = {job["job_name"] for job in CONFIG["scrape_configs"]}
    assert jobs == {process.name for process in fleet_processes(Settings.model_construct())}


def test_the_alerts_the_fleet_needs_exist_and_each_has_a_unit_test() -> None:
    alerts = {rule["alert"] for group in ALERTS["groups"] for rule in group["rules"]}
    assert alerts >= REQUIRED_ALERTS
    tested = {
        case["alertname"]
        for test in ALERT_TESTS["tests"]
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")  # a test that expects it to fire, not only to stay quiet
    }
    assert alerts <= tested, f"alerts without a firing unit test: {alerts - tested}"


def test_promtool_passes_the_alert_rule_unit_tests() -> None:
    result = _promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_scrape_config_and_rules() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
