"""Readiness: each dependency is a named async probe; /ready answers 503 naming the ones down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Probe = Callable[[], Awaitable[object]]
# The state of a background task (an outbox relay), shown by /ready but never making it fail: a
# process whose relay cannot deliver still takes writes, which wait in the outbox.
BackgroundState = Callable[[], str]


@dataclass(frozen=True)
class ReadinessCheck:
    name: str
    probe: Probe


async def run_checks(checks: list[ReadinessCheck], timeout: float = 1.0) -> dict[str, str]:
    """Run every probe at once; map each dependency to "ok" or the reason it is down."""

    async def one(check: ReadinessCheck) -> tuple[str, str]:
        try:
            await asyncio.wait_for(check.probe(), timeout)
        except TimeoutError:
            return check.name, f"no answer within {timeout}s"
        except Exception as exc:
            return check.name, f"{type(exc).__name__}: {exc}"[:200]
        return check.name, "ok"

    results = await asyncio.gather(*(one(check) for check in checks))
    return dict(results)
