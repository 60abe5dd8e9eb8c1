"""Writing a run down: <stem>.json (everything), <stem>.md (the summary) and PNG charts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from bench.model import Metric
from bench.stats import median

FLEET_COLOR = "#1f77b4"
BASELINE_COLOR = "#aaaaaa"


def write_json(path: Path, run: dict[str, Any]) -> None:
    path.write_text(json.dumps(run, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value)}")


# Charts


CHARTS = ("throughput", "latency", "feed-sweep", "followers")


def chart_paths(stem: Path) -> list[Path]:
    return [stem.with_name(f"{stem.name}-{name}.png") for name in CHARTS]


def charts(stem: Path, metrics: dict[str, Metric], followers: np.ndarray | None) -> list[Path]:
    written = []
    throughput, latency, sweep, follower_chart = chart_paths(stem)
    for path, draw in (
        (throughput, _throughput_chart),
        (latency, _latency_chart),
        (sweep, _feed_sweep_chart),
    ):
        if draw(path, metrics):
            written.append(path)
    if followers is not None:
        _followers_chart(follower_chart, followers)
        written.append(follower_chart)
    return written


def _bar_pair(axis: Any, labels: list[str], fleet: list[float], baseline: list[float], unit: str) -> None:
    x = np.arange(len(labels))
    for offset, values, label, color in (
        (-0.2, fleet, "fleet", FLEET_COLOR),
        (0.2, baseline, "baseline", BASELINE_COLOR),
    ):
        bars = axis.bar(x + offset, values, 0.4, label=label, color=color)
        axis.bar_label(bars, labels=[_number(value) for value in values], fontsize=7)
    axis.set_xticks(x, labels)
    axis.set_ylabel(unit)


def _throughput_chart(path: Path, metrics: dict[str, Metric]) -> bool:
    panels = [
        (key, figure)
        for key, figure_name in (
            ("feed_reads", "throughput at p99 ≤ 50 ms"),
            ("fanout", "deliveries per second"),
            ("compose", "tweets created and published per second"),
            ("mixed", "sustained rate at p99 ≤ 100 ms"),
        )
        if key in metrics and not metrics[key].error
        for figure in [metrics[key].figure(figure_name)]
    ]
    if not panels:
        return False
    figure_, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    for axis, (key, figure) in zip(axes[0], panels, strict=True):
        ours, theirs = figure.fleet_median or 0.0, figure.baseline_median or 0.0
        _bar_pair(axis, [""], [ours], [theirs], figure.unit)
        ratio = figure.ratio_median
        axis.set_title(f"{metrics[key].key}\n{figure.name}\nratio {ratio:.2f}x" if ratio else key, fontsize=9)
        if figure.target is not None:
            level = figure.target.value * (theirs if figure.target.kind == "ratio" else 1.0)
            axis.axhline(
                level,
                color="red",
                linestyle="--",
                linewidth=1,
                label=f"target {figure.target.text(figure.unit)}",
            )
        axis.legend(fontsize=7)
    figure_.suptitle("Throughput: fleet vs baseline (median of the repetitions)")
    figure_.tight_layout()
    figure_.savefig(path, dpi=110)
    plt.close(figure_)
    return True


def _latency_chart(path: Path, metrics: dict[str, Metric]) -> bool:
    panels: list[tuple[str, list[str], list[float], list[float], list[tuple[float, str]]]] = []
    feed = metrics.get("feed_reads")
    if feed and not feed.error:
        runs = feed.details.get("runs", [])
        labels = ["p50", "p90", "p99", "p999"]
        ours = [median([_step_latency(run, "fleet", label) for run in runs]) or 0.0 for label in labels]
        theirs = [median([_step_latency(run, "baseline", label) for run in runs]) or 0.0 for label in labels]
        level = runs[0].get("reference_concurrency") if runs else None
        panels.append((f"GET /feed at concurrency {level}", labels, ours, theirs, [(50.0, "p99 limit")]))
    for key, title, limits in (
        ("tweet_to_feed", "tweet → last follower's feed", [(100.0, "p50 target"), (250.0, "p99 target")]),
        ("search_lag", "commit → searchable", [(1000.0, "p99 target")]),
    ):
        metric = metrics.get(key)
        if metric and not metric.error:
            labels = [figure.name for figure in metric.figures]
            ours = [figure.fleet_median or 0.0 for figure in metric.figures]
            theirs = [figure.baseline_median or 0.0 for figure in metric.figures]
            panels.append((title, labels, ours, theirs, limits))
    mixed = metrics.get("mixed")
    if not panels and not (mixed and not mixed.error):
        return False
    count = len(panels) + (1 if mixed and not mixed.error else 0)
    figure_, axes = plt.subplots(1, count, figsize=(4.6 * count, 4.2), squeeze=False)
    for axis, (title, labels, ours, theirs, limits) in zip(axes[0], panels, strict=False):
        _bar_pair(axis, labels, ours, theirs, "ms")
        for value, label in limits:
            axis.axhline(value, color="red", linestyle="--", linewidth=1, label=label)
        axis.set_title(title, fontsize=9)
        axis.tick_params(axis="x", labelsize=7)
        axis.legend(fontsize=7)
    if mixed and not mixed.error:
        axis = axes[0][-1]
        for run_index, run in enumerate(mixed.details.get("runs", [])):
            for side, color in (("fleet", FLEET_COLOR), ("baseline", BASELINE_COLOR)):
                steps = sorted(run[side], key=lambda step: step["offered_rps"])
                axis.plot(
                    [step["offered_rps"] for step in steps],
                    [step["latency_ms"].get("p99", np.nan) for step in steps],
                    marker="o",
                    color=color,
                    label=side if run_index == 0 else None,
                )
        axis.axhline(100.0, color="red", linestyle="--", linewidth=1, label="p99 limit")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("offered rate (req/s)")
        axis.set_ylabel("p99 (ms)")
        axis.set_title("mixed 60/30/10: p99 vs offered rate", fontsize=9)
        axis.legend(fontsize=7)
    figure_.suptitle("Latency percentiles: fleet vs baseline (median of the repetitions)")
    figure_.tight_layout()
    figure_.savefig(path, dpi=110)
    plt.close(figure_)
    return True


def _step_latency(run: dict[str, Any], side: str, label: str) -> float | None:
    level = run.get("reference_concurrency")
    for step in run.get(side, []):
        if step["concurrency"] == level:
            value = step.get("latency_ms", {}).get(label)
            return None if value is None else float(value)
    return None


def _feed_sweep_chart(path: Path, metrics: dict[str, Metric]) -> bool:
    feed = metrics.get("feed_reads")
    if not feed or feed.error:
        return False
    figure_, axis = plt.subplots(figsize=(7, 4.5))
    for run_index, run in enumerate(feed.details.get("runs", [])):
        for side, color in (("fleet", FLEET_COLOR), ("baseline", BASELINE_COLOR)):
            steps = run[side]
            axis.plot(
                [step["rps"] for step in steps],
                [step["latency_ms"].get("p99", np.nan) for step in steps],
                marker="o",
                color=color,
                alpha=0.8,
                label=side if run_index == 0 else None,
            )
            for step in steps:
                axis.annotate(
                    str(step["concurrency"]), (step["rps"], step["latency_ms"].get("p99", np.nan)), fontsize=6
                )
    axis.axhline(50.0, color="red", linestyle="--", linewidth=1, label="p99 limit 50 ms")
    axis.set_xlabel("throughput (req/s)")
    axis.set_ylabel("p99 latency (ms)")
    axis.set_yscale("log")
    axis.set_title("GET /feed vs bare script: p99 against throughput (labels: concurrency)")
    axis.legend()
    figure_.tight_layout()
    figure_.savefig(path, dpi=110)
    plt.close(figure_)
    return True


def _followers_chart(path: Path, followers: np.ndarray) -> None:
    values = np.sort(followers[followers > 0])[::-1]
    share = np.arange(1, len(values) + 1) / len(followers)
    figure_, axis = plt.subplots(figsize=(6, 4.2))
    axis.loglog(values, share, marker=".", linestyle="none", markersize=3)
    axis.set_xlabel("followers (k)")
    axis.set_ylabel("share of users with ≥ k followers")
    axis.set_title("Generated social graph: follower counts (log-log)")
    figure_.tight_layout()
    figure_.savefig(path, dpi=110)
    plt.close(figure_)


# Markdown


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"
    return f"{text} {unit}".strip()


def _met(value: bool | None) -> str:
    return {True: "**yes**", False: "**no**", None: "-"}[value]


def markdown(run: dict[str, Any], metrics: dict[str, Metric], chart_files: list[Path], findings: str) -> str:
    meta = run["meta"]
    lines = [
        f"# Benchmark {meta['date']} ({meta['profile']})",
        "",
        f"Fleet at `{meta['git']}` on {meta['machine']}; load generator: {meta['generator']}. "
        f"Every figure is the median of {meta['repetitions']} repetition(s); the ratio is the median of "
        "the per-repetition fleet ÷ baseline ratios (each pair measured back to back). "
        f"Whole run: {meta['seconds']:.0f} s; load average at start {meta['load_average_start']}, "
        f"at end {meta['load_average_end']} (the machine is shared: 'other processes' below is CPU "
        "used by neither the fleet, its databases and broker, nor the generator). "
        "How it is measured: `bench/README.md`.",
        "",
        "## Results",
        "",
        "| metric | figure | fleet | baseline | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for metric in metrics.values():
        if metric.error:
            reason = metric.error.strip().splitlines()[-1][:160].replace("|", "/")
            lines.append(f"| {metric.title} | failed: {reason} | | | | | |")
            continue
        for figure in metric.figures:
            ratio = figure.ratio_median
            lines.append(
                f"| {metric.title} | {figure.name} | {_number(figure.fleet_median, figure.unit)} | "
                f"{_number(figure.baseline_median, figure.unit)} | {'-' if ratio is None else f'{ratio:.2f}x'} | "
                f"{figure.target.text(figure.unit) if figure.target else '-'} | {_met(figure.met)} |"
            )
    lines += ["", "Baselines (each measured in the same run, back to back with the fleet):", ""]
    for metric in metrics.values():
        names = list(dict.fromkeys(figure.baseline_name for figure in metric.figures if figure.baseline_name))
        if names:
            lines.append(f"- {metric.key}: " + "; ".join(names))
    data = run.get("dataset", {})
    if data:
        lines += [
            "",
            "## Data set",
            "",
            f"{data['users']:,} users, {data['follows']:,} follows, {data['tweets']:,} tweets; the celebrity has "
            f"{data['celebrity_followers']:,} followers; others: median {data['followers_per_user']['p50']:.0f}, "
            f"p99 {data['followers_per_user']['p99']:.0f}, max {data['followers_per_user']['max']:,} followers. "
            f"Feeds: {data['feed_entries']:,} entries, median length {data['feed_length']['p50']:.0f}. "
            f"Loaded in {sum(data['setup_seconds'].values()):.0f} s (COPY + pipelined RPUSH).",
        ]
    lines += ["", "## Details", ""]
    for metric in metrics.values():
        lines += [f"### {metric.title}", ""]
        if metric.error:
            lines += ["```", metric.error[-2000:], "```", ""]
            continue
        for figure in metric.figures:
            runs = ", ".join(_number(value) for value in figure.fleet)
            base = ", ".join(_number(value) for value in figure.baseline)
            lines.append(f"- {figure.name}: fleet runs [{runs}] {figure.unit}; baseline runs [{base}]")
        lines += [f"- {note}" for note in metric.notes]
        lines += [f"- {line}" for line in _detail_lines(metric)]
        lines.append("")
    if chart_files:
        lines += ["## Charts", ""]
        lines += [f"![{path.stem}]({path.name})" for path in chart_files]
        lines.append("")
    lines += ["## Profile findings", "", findings.strip() or "Not profiled in this run.", ""]
    return "\n".join(lines)


def _cpu_text(usage: dict[str, Any] | None) -> str:
    if not usage:
        return ""
    parts = [f"machine {usage.get('machine_cores')}", f"other processes {usage.get('other_cores')}"]
    if usage.get("generator_cores") is not None:
        parts.append(f"generator {usage['generator_cores']}")
    busy = {**usage.get("fleet_cores", {}), **usage.get("infra_cores", {})}
    parts += [
        f"{name} {value}" for name, value in sorted(busy.items(), key=lambda item: -(item[1] or 0)) if value
    ]
    return "CPU cores: " + ", ".join(parts)


def _detail_lines(metric: Metric) -> list[str]:
    """One line per repetition with the numbers behind the figure and who used the CPU."""
    lines = []
    for index, run in enumerate(metric.details.get("runs", []), start=1):
        if metric.key == "feed_reads":
            level = run.get("fleet_best_concurrency")
            best = next((step for step in run["fleet"] if step["concurrency"] == level), None)
            lines.append(
                f"run {index}: fleet best at c={level}, bare best at c={run.get('baseline_best_concurrency')}; "
                f"{_cpu_text(best.get('cpu') if best else None)}"
            )
        elif metric.key == "mixed":
            best = max(
                (step for step in run["fleet"] if step.get("held")),
                key=lambda step: step["offered_rps"],
                default=None,
            )
            if best:
                kinds = ", ".join(
                    f"{kind} p99 {stats['latency_ms'].get('p99')} ms"
                    for kind, stats in best.get("by_kind", {}).items()
                )
                lines.append(
                    f"run {index}: at {best['offered_rps']:.0f} req/s: {kinds}; {_cpu_text(best.get('cpu'))}"
                )
        elif "fleet" in run and isinstance(run["fleet"], dict):
            lines.append(f"run {index}: fleet {_cpu_text(run['fleet'].get('cpu'))}")
    return lines
