"""What every measurement gets: the profile, the running fleet, the data set and a scratch folder."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import Profile
from bench.dataset import Dataset
from bench.environment import BenchFleet


@dataclass
class Context:
    profile: Profile
    fleet: BenchFleet
    data: Dataset
    workdir: Path
    use_wrk: bool
    # Results one measurement leaves for a later one (e.g. feed throughput to start the mixed search).
    notes: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def tokens_file(self) -> Path:
        path = self.workdir / "tokens.txt"
        if not path.exists():
            self.data.write_tokens(path)
        return path

    @property
    def repetitions(self) -> range:
        return range(self.profile.repetitions)

    def log(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[bench {elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)

    def http_plan(self, weights: dict[str, float]) -> dict[str, Any]:
        """The request plan of the Python load generator (tokens of every user, timeline targets)."""
        return {
            "feed_url": self.fleet.url("feed"),
            "tweets_url": self.fleet.url("tweet"),
            "tokens": self.data.tokens,
            "timeline_users": self.data.timeline_users,
            "weights": weights,
        }

    def bare_task(self, weights: dict[str, float], with_broker: bool = False) -> dict[str, Any]:
        """The connection details and plan of a bare baseline (the same users and feeds)."""
        return {
            "ops": "bare",
            "redis_url": self.fleet.redis_url,
            "tweets_dsn": self.fleet.dsn("tweets"),
            "amqp_url": self.fleet.amqp_url if with_broker else "",
            "plan": {
                "readers": self.data.user_ids,
                "timeline_users": self.data.timeline_users,
                "weights": weights,
            },
        }
