"""`python -m bench`: start an isolated fleet, load the data, measure, profile, report, tear down."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Protocol

from bench import profile_scenarios, report
from bench.config import FULL, QUICK, Profile
from bench.context import Context
from bench.dataset import generate
from bench.environment import BenchFleet
from bench.loadgen import REPO_ROOT, wrk_available
from bench.metrics import (
    big_author_reads,
    cluster_fanout,
    compose,
    discovery,
    fanout,
    feed_reads,
    metrics_cost,
    million_followers,
    mixed,
    muted_reads,
    open_streams,
    overload,
    search_lag,
    stream_delivery,
    tweet_to_feed,
)
from bench.model import Metric
from devtools.fleet import unreachable_dependencies
from devtools.testing import TEST_JWT_SECRET, TEST_SERVICE_TOKEN
from shared.settings import Settings

RESULTS = Path(__file__).parent / "results"
FINDINGS = Path(__file__).parent / "FINDINGS.md"


class MetricModule(Protocol):
    TITLE: str

    async def run(self, ctx: Context) -> Metric: ...


# The order matters: reads first on the clean data set, the mixed workload (which posts) last.
METRICS: dict[str, MetricModule] = {
    "feed_reads": feed_reads,
    "muted_reads": muted_reads,
    "metrics_cost": metrics_cost,
    "fanout": fanout,
    "tweet_to_feed": tweet_to_feed,
    "million_followers": million_followers,
    "big_author_reads": big_author_reads,
    "cluster_fanout": cluster_fanout,
    "stream_delivery": stream_delivery,
    "open_streams": open_streams,
    "search_lag": search_lag,
    "discovery": discovery,
    "compose": compose,
    "mixed": mixed,
    "overload": overload,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data, 1 repetition: a smoke run")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(METRICS)} (default: all)"
    )
    parser.add_argument("--repetitions", type=int, default=0, help="override the profile's repetitions")
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="closed-loop HTTP load generator",
    )
    parser.add_argument(
        "--profile", dest="profile", action="store_true", default=None, help="sample the fleet with py-spy"
    )
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where results go (bench/results)")
    parser.add_argument(
        "--summary-from",
        type=Path,
        metavar="JSON",
        help="measure nothing: write the Markdown summary of an earlier run again from its JSON",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in filter(None, args.only.split(",")) if name not in METRICS]
    if unknown:
        parser.error(f"unknown metrics: {', '.join(unknown)}")
    return args


def _git_revision() -> str:
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "users", "tweets", "feed", "search", "feed_worker",
             "search_worker", "shared"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        return revision + ("+uncommitted changes" if dirty else "")
    except (subprocess.SubprocessError, OSError):
        return "unknown"


def _load_average() -> list[float]:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def _machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model or platform.processor()}), Python {platform.python_version()}"


async def _measure(ctx: Context, selected: list[str]) -> dict[str, Metric]:
    """Run the selected measurements; one that fails is recorded as failed and the others go on."""
    metrics: dict[str, Metric] = {}
    for name in selected:
        started = time.monotonic()
        try:
            metric = await METRICS[name].run(ctx)
        except Exception:
            traceback.print_exc()
            metric = Metric(name, METRICS[name].TITLE, error=traceback.format_exc())
            ctx.fleet.resume(*ctx.fleet.pids)  # never leave a worker paused after a failure
            ctx.fleet.alive()
        metric.seconds = time.monotonic() - started
        metrics[name] = metric
        # Whatever a measurement left queued (fan-out, indexing) is done before the next starts.
        try:
            await ctx.fleet.drain()
        except TimeoutError as exc:
            ctx.log(f"after {name}: {exc}")
    return metrics


async def run(args: argparse.Namespace) -> int:
    profile: Profile = QUICK if args.quick else FULL
    if args.repetitions:
        profile = Profile(**{**profile.__dict__, "repetitions": args.repetitions})
    selected = [name for name in METRICS if not args.only or name in args.only.split(",")]
    use_wrk = args.generator == "wrk" or (args.generator == "auto" and wrk_available())
    if args.generator == "wrk" and not wrk_available():
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    do_profile = args.profile if args.profile is not None else not args.quick
    # Only the dependencies' addresses are read; the fleet the bench starts has its own secrets.
    down = unreachable_dependencies(
        Settings(
            environment="test",
            jwt={"secret": TEST_JWT_SECRET},
            internal={"service_token": TEST_SERVICE_TOKEN},
        )
    )
    if down:
        print("The benchmark needs PostgreSQL, Redis and RabbitMQ:\n  " + "\n  ".join(down), file=sys.stderr)
        return 1

    started = time.monotonic()
    load_start = _load_average()
    today = dt.date.today().isoformat()
    stem = args.output / (f"{today}-quick" if args.quick else today)
    args.output.mkdir(parents=True, exist_ok=True)
    fleet = BenchFleet()
    metrics: dict[str, Metric] = {}
    profile_result: dict[str, Any] | None = None
    dataset_summary: dict[str, Any] = {}
    followers = None
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        workdir = Path(scratch)
        try:
            print(f"[bench] starting an isolated fleet ({profile.name} profile) ...", file=sys.stderr)
            await fleet.start()
            print(f"[bench] fleet ready; generating {profile.users:,} users ...", file=sys.stderr)
            data = await generate(profile, fleet.settings, fleet.redis_url)
            dataset_summary = data.summary()
            followers = data.in_degree
            ctx = Context(profile, fleet, data, workdir, use_wrk, started=started)
            ctx.log(
                f"data loaded: {dataset_summary['follows']:,} follows, {dataset_summary['tweets']:,} tweets"
            )
            metrics = await _measure(ctx, selected)
            if do_profile:
                try:
                    profile_result = await profile_scenarios.profile_fleet(ctx)
                    _keep_profiles(workdir / "profiles", stem)
                except Exception:
                    traceback.print_exc()
                    profile_result = {"error": traceback.format_exc().splitlines()[-1]}
        finally:
            print(
                "[bench] stopping the fleet and removing its databases, vhost and Redis data", file=sys.stderr
            )
            await fleet.stop()

    run_record: dict[str, Any] = {
        "meta": {
            "date": today,
            "profile": profile.name,
            "repetitions": profile.repetitions,
            "git": _git_revision(),
            "machine": _machine(),
            "generator": ("wrk (closed loop)" if use_wrk else "python agent (closed loop)")
            + " + python agent (open loop, mixed)",
            "seconds": round(time.monotonic() - started, 1),
            "load_average_start": load_start,
            "load_average_end": _load_average(),
            "profile_settings": profile.__dict__,
        },
        "dataset": dataset_summary,
        "metrics": {name: metric.as_dict() for name, metric in metrics.items()},
        "profile": profile_result,
    }
    report.write_json(stem.with_suffix(".json"), run_record)
    chart_files = report.charts(stem, metrics, followers)
    _write_summary(stem, run_record, metrics, chart_files)
    print(
        f"[bench] wrote {stem.with_suffix('.json')}, {stem.with_suffix('.md')} and {len(chart_files)} charts"
    )
    print(stem.with_suffix(".md").read_text())
    return 1 if any(metric.error for metric in metrics.values()) else 0


def _write_summary(
    stem: Path, run_record: dict[str, Any], metrics: dict[str, Metric], chart_files: list[Path]
) -> None:
    findings = profile_scenarios.markdown(run_record.get("profile"))
    if FINDINGS.exists():
        findings = FINDINGS.read_text().strip() + "\n\n" + findings
    stem.with_suffix(".md").write_text(report.markdown(run_record, metrics, chart_files, findings))


def rewrite_summary(json_path: Path) -> int:
    """Write the Markdown summary of an earlier run again from its JSON (e.g. after editing FINDINGS.md)."""
    run_record = json.loads(json_path.read_text())
    metrics = {name: Metric.from_dict(data) for name, data in run_record["metrics"].items()}
    stem = json_path.with_suffix("")
    chart_files = [path for path in report.chart_paths(stem) if path.exists()]
    _write_summary(stem, run_record, metrics, chart_files)
    print(f"[bench] wrote {stem.with_suffix('.md')}")
    return 0


def _keep_profiles(folder: Path, stem: Path) -> None:
    """Keep the folded stacks (flame-graph input), gzipped, beside the results."""
    if not folder.exists():
        return
    target = stem.parent / "profiles" / stem.name
    target.mkdir(parents=True, exist_ok=True)
    for path in folder.glob("*.folded"):
        with path.open("rb") as source, gzip.open(target / f"{path.name}.gz", "wb") as sink:
            shutil.copyfileobj(source, sink)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.summary_from:
        raise SystemExit(rewrite_summary(args.summary_from))
    try:
        raise SystemExit(asyncio.run(run(args)))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
