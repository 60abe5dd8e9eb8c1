"""Percentiles, medians and paired ratios."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max/mean in milliseconds."""
    if not seconds:
        return {}
    summary = {_label(q): round(percentile(seconds, q) * 1000, 3) for q in PERCENTILES}
    summary["max"] = round(max(seconds) * 1000, 3)
    summary["mean"] = round(statistics.fmean(seconds) * 1000, 3)
    return summary


def _label(q: float) -> str:
    return "p" + (f"{q:g}".replace(".", ""))


def median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def paired_ratios(fleet: Sequence[float | None], baseline: Sequence[float | None]) -> list[float | None]:
    """fleet ÷ baseline for each repetition (the two were measured back to back)."""
    ratios: list[float | None] = []
    for ours, theirs in zip(fleet, baseline, strict=False):
        if ours is None or theirs is None or theirs == 0:
            ratios.append(None)
        else:
            ratios.append(ours / theirs)
    return ratios
