"""The process's metrics switch, multi-process collection and the text exposition.

A service with `workers` > 1 serves one port from several processes: each keeps its values in
memory-mapped files in one folder (prometheus-client's multiprocess mode) and whichever process a
scrape reaches adds them all up. The first process switches to it before forking the others
(shared.runner), empties the folder at start and removes a temporary one at exit.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    ProcessCollector,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.settings import MetricsSettings

logger = logging.getLogger(__name__)


@dataclass
class _State:
    enabled: bool = True
    sample_seconds: float = 5.0
    configured_dir: str = ""
    multiprocess_dir: Path | None = None
    owns_dir: bool = False
    registry: CollectorRegistry | None = None


_state = _State()


def configure(settings: MetricsSettings) -> None:
    """Apply [Metrics] to this process (shared.runner.prepare_process, before the app is built)."""
    _state.enabled = settings.enabled
    _state.sample_seconds = settings.sample_seconds
    _state.configured_dir = settings.multiprocess_dir


def enabled() -> bool:
    return _state.enabled


def sample_seconds() -> float:
    return _state.sample_seconds


def use_multiprocess() -> Path:
    """Keep this process's values, and those of the processes it forks from now on, in files
    shared by all of them ([Metrics] multiprocess_dir, else a fresh temporary folder), emptied first."""
    configured = _state.configured_dir
    path = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="fleet-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):  # a previous run's values are not this run's
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    # prometheus-client chose in-memory values when it was imported; values made from now on
    # (every labelled child: see shared.metrics) go to the files instead.
    values.ValueClass = values.MultiProcessValue()
    _state.multiprocess_dir = path
    _state.owns_dir = not configured
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))
    registry.register(_ServiceProcessesCollector(path))
    _state.registry = registry
    process_started()
    return path


_processes = Gauge(
    "service_processes",
    "Live processes serving this service's port",
    ["kind"],
    multiprocess_mode="livesum",
)


def process_started() -> None:
    """Mark this process live (its files name its pid: the CPU and memory collector finds it so)."""
    if _state.multiprocess_dir is not None:
        _processes.labels("serving").set(1)


def process_exited(pid: int) -> None:
    """Drop a stopped process's live gauges (its counters stay: totals never go down)."""
    if _state.multiprocess_dir is not None:
        multiprocess.mark_process_dead(pid, str(_state.multiprocess_dir))


def release_multiprocess() -> None:
    """At the first process's exit: remove the folder if it was a temporary one."""
    if _state.multiprocess_dir is not None and _state.owns_dir:
        shutil.rmtree(_state.multiprocess_dir, ignore_errors=True)


def exposition() -> tuple[bytes, str]:
    """The text format of every metric of this process, or of all the service's processes."""
    return generate_latest(_state.registry or REGISTRY), CONTENT_TYPE_LATEST


_SUMMED = {
    "process_cpu_seconds_total": "Total user and system CPU time of the service's processes, in seconds.",
    "process_resident_memory_bytes": "Resident memory of the service's processes, in bytes.",
    "process_virtual_memory_bytes": "Virtual memory of the service's processes, in bytes.",
    "process_open_fds": "Open file descriptors of the service's processes.",
}


class _ServiceProcessesCollector(Collector):
    """prometheus-client's process metrics cover one process; in multiprocess mode these are the
    sums over the service's live processes (found by the pids in the metric files' names)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def collect(self) -> Iterable[Metric]:
        totals = dict.fromkeys(_SUMMED, 0.0)
        for pid in self._live_pids():
            for family in ProcessCollector(pid=functools.partial(str, pid), registry=None).collect():
                for sample in family.samples:
                    if sample.name in totals:
                        totals[sample.name] += sample.value
        for name, total in totals.items():
            if name.endswith("_total"):
                yield CounterMetricFamily(name.removesuffix("_total"), _SUMMED[name], value=total)
            else:
                yield GaugeMetricFamily(name, _SUMMED[name], value=total)

    def _live_pids(self) -> set[int]:
        pids = set()
        for file in self._path.glob("gauge_livesum_*.db"):
            pid = file.stem.rsplit("_", 1)[-1]
            if pid.isdigit() and Path(f"/proc/{pid}").exists():
                pids.add(int(pid))
        return pids
