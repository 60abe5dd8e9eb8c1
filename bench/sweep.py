"""How a sweep picks its next load level, and what "holds the latency target" means.

The same rules serve the fleet and its baseline, so the two are measured the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_ERROR_RATE = 0.01
# An open-loop step holds only if the generator delivered (nearly) the offered rate.
MIN_ACHIEVED_SHARE = 0.95


def p99_ms(result: Mapping[str, Any]) -> float:
    latency = result.get("latency_ms") or {}
    return float(latency.get("p99", math.inf))


def holds(result: Mapping[str, Any], p99_limit_ms: float) -> bool:
    """p99 within the limit, at most 1% errors and, for an open loop, the offered rate achieved."""
    if not result.get("ok"):
        return False
    if float(result.get("error_rate", 1.0)) > MAX_ERROR_RATE or p99_ms(result) > p99_limit_ms:
        return False
    offered = result.get("offered_rps")
    return offered is None or float(result.get("rps", 0.0)) >= MIN_ACHIEVED_SHARE * float(offered)


def closed_sweep_done(
    results: Sequence[Mapping[str, Any]], p99_limit_ms: float, min_concurrency: int = 0
) -> bool:
    """Stop raising concurrency once latency is far past the limit or two levels in a row missed it
    (but not before `min_concurrency`, where the two sides' latencies are compared)."""
    if not results or int(results[-1].get("concurrency", 0)) < min_concurrency:
        return False
    if p99_ms(results[-1]) > 2 * p99_limit_ms:
        return True
    return len(results) >= 2 and not any(holds(result, p99_limit_ms) for result in results[-2:])


def best_holding(results: Sequence[Mapping[str, Any]], p99_limit_ms: float) -> Mapping[str, Any] | None:
    """The level with the highest throughput that held the target."""
    holding = [result for result in results if holds(result, p99_limit_ms)]
    return max(holding, key=lambda result: float(result["rps"]), default=None)


@dataclass
class RateSearch:
    """Open-loop rate search: grow by `factor` until a step misses, then bisect (geometrically)."""

    rate: float
    factor: float = 1.4
    precision: float = 1.12
    last_hold: float | None = None
    first_miss: float | None = None

    def next_rate(self, held: bool) -> float | None:
        """Record the outcome of the step at `self.rate`; the next rate, or None when settled."""
        if held:
            self.last_hold = max(self.rate, self.last_hold or 0.0)
        else:
            self.first_miss = min(self.rate, self.first_miss or math.inf)
        if self.last_hold is None:
            assert self.first_miss is not None
            if self.first_miss < 1.0:
                return None
            self.rate = self.first_miss / 2
        elif self.first_miss is None:
            self.rate = self.last_hold * self.factor
        else:
            if self.first_miss / self.last_hold <= self.precision:
                return None
            self.rate = math.sqrt(self.last_hold * self.first_miss)
        return self.rate
