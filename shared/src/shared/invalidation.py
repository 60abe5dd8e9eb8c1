"""Telling every process that some entries of its in-process cache are stale, through Redis.

One Redis stream per cache (`invalidate:<name>`) lists the keys whose source changed: whoever
learns of a change (a worker consuming its event) appends them, and every process reads the entries
added since its last read once per `poll_seconds` and forgets those keys. A cache can then keep its
entries until they change instead of for a few seconds, and a change still shows within about a
second: one small round trip a second per process, whatever the request rate.

Stream ids come from the Redis server, so a reader never misses an entry between two reads. The
stream keeps its newest MAX_LENGTH entries; a reader that finds entries after its last one trimmed
away (it could not read for that long, or the stream was recreated) forgets everything, as it does
when it first reaches Redis: what the process cached before then may predate a change it will
never read. While Redis is unreachable the cache serves what it holds (and its own expiry bounds
how stale that gets).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, cast

from redis.asyncio import Redis

from shared.lifecycle import background, every, redis_outage

POLL_SECONDS = 1.0
# Entries kept (approximately): far more than any process reads between two polls.
MAX_LENGTH = 100_000
# Entries read per round trip (a reader that fell behind reads on until it is level).
READ_BATCH = 1000
_FIELD = "key"


def stream_key(name: str) -> str:
    return f"invalidate:{name}"


async def announce(redis: Redis, name: str, keys: Iterable[str]) -> None:
    """Append the keys whose cached copies are stale (raises while Redis cannot be reached)."""
    async with redis_outage(), redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.xadd(stream_key(name), {_FIELD: key}, maxlen=MAX_LENGTH, approximate=True)
        await pipe.execute()


# KEYS[1] the stream; ARGV[1] the id of the last entry read ('' on a first read), ARGV[2] how many
# to read. Answers {entries ever added, the newest id, the entries after ARGV[1]}, in one snapshot.
_READ = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, '0-0', {}} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local added, newest = 0, '0-0'
for i = 1, #info, 2 do
  if info[i] == 'entries-added' then added = info[i + 1]
  elseif info[i] == 'last-generated-id' then newest = info[i + 1] end
end
local entries = {}
if ARGV[1] ~= '' then
  entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
end
return {added, newest, entries}
"""


class Invalidations:
    """A process's reader of one cache's stream: calls `forget(keys)` for the keys announced since
    its last read, or `forget_all()` when it cannot know which changed."""

    def __init__(
        self,
        redis: Redis,
        name: str,
        forget: Callable[[list[str]], None],
        forget_all: Callable[[], None],
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.key = stream_key(name)
        self._read = redis.register_script(_READ)
        self._forget = forget
        self._forget_all = forget_all
        self.poll_seconds = poll_seconds
        self._last = ""  # the id of the newest entry read; '' until Redis first answered
        self._added = 0  # how many entries the stream had had up to that one

    async def read(self) -> None:
        """Apply the entries added since the last read (the first read starts at the stream's end)."""
        async with redis_outage():
            await self._read_on()

    async def _read_on(self) -> None:
        while True:
            added, newest, entries = cast(
                list[Any], await self._read(keys=[self.key], args=[self._last, READ_BATCH])
            )
            added = int(added)
            unread = added - self._added
            if not self._last or unread < 0 or len(entries) < min(unread, READ_BATCH):
                # A first read, or entries after the last one read were trimmed (or the stream was
                # recreated): any key may have changed meanwhile.
                self._forget_all()
                self._last, self._added = newest, added
                return
            if entries:
                # A script's reply holds an entry's fields as a flat list: [name, value].
                self._forget([fields[1] for _, fields in entries])
                self._last = entries[-1][0]
                self._added += len(entries)
            if len(entries) < READ_BATCH:
                return

    async def run(self, stop: asyncio.Event) -> None:
        failed = f"{self.key} not read; the cache serves what it holds"
        await every(self.poll_seconds, stop, self.read, failed)


@contextlib.asynccontextmanager
async def reading(invalidations: Invalidations) -> AsyncIterator[Invalidations]:
    """Read in the background for the duration of the block."""
    async with background(f"reading {invalidations.key}", invalidations.run):
        yield invalidations
