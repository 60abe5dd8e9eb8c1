"""CPU accounting from /proc: how many cores each fleet process, the generator and the machine used.

On a 2-core machine the load generator competes with the fleet, so every load reports who used
the CPU while it ran. Linux only (the benchmark machine); elsewhere the figures are left empty.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# The infrastructure the fleet runs on, by process name (summed over all their processes).
INFRA_NAMES = {"postgres": "postgresql", "redis-server": "redis", "beam.smp": "rabbitmq"}


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime field 14, stime field 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_of(pids: set[int]) -> dict[int, int]:
    """The processes whose parent is one of `pids`: {child pid: parent pid}."""
    found = {}
    try:
        entries = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return {}
    for name in entries:
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                parent = int(fh.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent in pids:
            found[int(name)] = parent
    return found


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent not idle since boot."""
    try:
        with open("/proc/stat", "rb") as fh:
            values = [int(value) for value in fh.readline().split()[1:]]
    except OSError:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLOCK_TICKS


# PostgreSQL serves other people's databases too: only backends whose process title names one of
# the benchmark's databases (this marker, the fleet's database-name suffix) are counted.
POSTGRES_MARKER_VARIABLE = "BENCH_POSTGRES_MARKER"


def _serves_benchmark(pid: int) -> bool:
    marker = os.environ.get(POSTGRES_MARKER_VARIABLE, "")
    if not marker:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return marker.encode() in fh.read()
    except OSError:
        return False


def infra_cpu_seconds() -> dict[str, float]:
    """CPU seconds of PostgreSQL (the benchmark's backends), Redis and RabbitMQ, by service."""
    totals = dict.fromkeys(INFRA_NAMES.values(), 0.0)
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as fh:
                name = fh.read().strip()
        except OSError:
            continue
        service = INFRA_NAMES.get(name)
        if service is None or (service == "postgresql" and not _serves_benchmark(pid)):
            continue
        seconds = process_cpu_seconds(pid)
        if seconds is not None:
            totals[service] += seconds
    return totals


@dataclass
class CpuSnapshot:
    at: float
    processes: dict[str, float]
    infra: dict[str, float]
    busy: float | None


def snapshot(pids: Mapping[str, int]) -> CpuSnapshot:
    """CPU seconds so far of each fleet process, its worker processes (its children) included."""
    processes = {}
    names = {pid: name for name, pid in pids.items()}
    for name, pid in pids.items():
        seconds = process_cpu_seconds(pid)
        if seconds is not None:
            processes[name] = seconds
    for child, parent in children_of(set(names)).items():
        seconds = process_cpu_seconds(child)
        if seconds is not None and names[parent] in processes:
            processes[names[parent]] += seconds
    return CpuSnapshot(time.monotonic(), processes, infra_cpu_seconds(), machine_busy_seconds())


@dataclass
class CpuUsage:
    """Average cores used over a window (1.0 = one core fully busy)."""

    seconds: float
    processes: dict[str, float] = field(default_factory=dict)
    infra: dict[str, float] = field(default_factory=dict)
    machine: float | None = None
    generator: float | None = None

    @property
    def others(self) -> float | None:
        """Cores used by everything else on the machine (other users' work: the noise)."""
        if self.machine is None:
            return None
        known = sum(self.processes.values()) + sum(self.infra.values()) + (self.generator or 0.0)
        return max(0.0, self.machine - known)

    def as_dict(self) -> dict[str, object]:
        return {
            "window_seconds": round(self.seconds, 3),
            "machine_cores": _round(self.machine),
            "other_cores": _round(self.others),
            "generator_cores": _round(self.generator),
            "fleet_cores": {name: _round(value) for name, value in self.processes.items()},
            "infra_cores": {name: _round(value) for name, value in self.infra.items()},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def usage(before: CpuSnapshot, after: CpuSnapshot, generator_seconds: float | None = None) -> CpuUsage:
    window = max(after.at - before.at, 1e-9)
    processes = {
        name: (after.processes[name] - before.processes[name]) / window
        for name in before.processes
        if name in after.processes
    }
    # A PostgreSQL backend that exits during the window takes its seconds with it: clamp at zero.
    infra = {
        name: max(0.0, after.infra.get(name, 0.0) - before.infra.get(name, 0.0)) / window
        for name in after.infra
    }
    machine = None
    if before.busy is not None and after.busy is not None:
        machine = (after.busy - before.busy) / window
    generator = None if generator_seconds is None else generator_seconds / window
    return CpuUsage(window, processes, infra, machine, generator)
