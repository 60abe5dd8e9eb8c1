"""Readiness: each dependency is a named async probe; /ready answers 503 naming the ones down."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shared.errors import Overloaded

logger = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[object]]
# The state of a background task (an outbox relay), shown by /ready but never making it fail: a
# process whose relay cannot deliver still takes writes, which wait in the outbox.
BackgroundState = Callable[[], str]


@dataclass(frozen=True)
class ReadinessCheck:
    name: str
    probe: Probe


# "saturated": every pooled connection to the dependency is busy. It answers, this process is at
# capacity: requests are shed with 503 "overloaded", but the process is ready (taking it out of a
# load balancer would only move its load onto the others).
HEALTHY = frozenset({"ok", "saturated"})


async def run_checks(checks: list[ReadinessCheck], timeout: float = 2.0) -> dict[str, str]:
    """Run every probe at once; map each dependency to "ok", "saturated", "timeout" or "unavailable".

    The reasons are public (/ready), so they carry no exception text; that goes to the log.
    The timeout is longer than the pools' waits for a connection, so a full pool is "saturated"."""

    async def one(check: ReadinessCheck) -> tuple[str, str]:
        try:
            await asyncio.wait_for(check.probe(), timeout)
        except TimeoutError:
            logger.warning("readiness: %s gave no answer within %ss", check.name, timeout)
            return check.name, "timeout"
        except Overloaded:
            return check.name, "saturated"
        except Exception as exc:
            logger.warning("readiness: %s is unavailable: %r", check.name, exc)
            return check.name, "unavailable"
        return check.name, "ok"

    results = await asyncio.gather(*(one(check) for check in checks))
    return dict(results)
