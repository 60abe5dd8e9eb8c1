"""Authors of feed items ({id, username, display_name}), cached in this process until they change.

users emits `user.update` and `user.delete` through the outbox; feed_worker announces the account
on the `authors` invalidation stream (shared.invalidation), and every feed process drops its copy
within about a second: the next page showing that author asks users again. Entries are kept
instead of for a few seconds, so a warm reader's page asks users nothing, and nothing is asked
again for authors that did not change (before: a GetUsers of every author shown every ~6 s, in
each process, 0.22 users cores during the feed read bench at 12,000 authors).

An entry is also refreshed after AUTHOR_TTL_SECONDS, in the background (the read is served the copy
it has): a backstop for a change never announced, e.g. lost with a Redis that restarted empty.

While users cannot answer, authors not cached come without names and marked unknown (not cached,
and not taken for deleted accounts): a page that exists is served rather than a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from fleet_proto import user_service_pb2
from shared.errors import DependencyUnavailable, DomainError
from shared.invalidation import Invalidations, reading
from shared.ttlcache import TtlCache

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from fleet_proto.user_service_pb2_grpc import UserAsyncStub

logger = logging.getLogger(__name__)

# The name of the invalidation stream feed_worker announces changed accounts on.
AUTHORS_STREAM = "authors"
AUTHOR_TTL_SECONDS = 600.0
# Authors served past their time are refreshed together, once per this window.
AUTHOR_REFRESH_SECONDS = 1.0
# users' GetUsers limit.
MAX_AUTHORS_PER_CALL = 1000
# Per background refresh call: a smaller reply holds the event loop for less time between reads.
REFRESH_BATCH = 200


@dataclass(frozen=True)
class Author:
    id: str
    username: str | None
    display_name: str | None
    json: str  # {"id", "username", "display_name"}
    # False while users could not be asked: no names, yet not a deleted account.
    known: bool = True

    @classmethod
    def of(
        cls, user_id: str, username: str | None, display_name: str | None, *, known: bool = True
    ) -> Author:
        """An author as items show it (no names for an account users does not know)."""
        text = orjson.dumps({"id": user_id, "username": username, "display_name": display_name}).decode()
        return cls(user_id, username, display_name, text, known)

    @property
    def deleted(self) -> bool:
        """users answered that no such account exists (any more)."""
        return self.known and self.username is None


class AuthorCache:
    def __init__(self, users: UserAsyncStub, ttl: float = AUTHOR_TTL_SECONDS) -> None:
        self._users = users
        self._authors: TtlCache[Author] = TtlCache(ttl)
        # Authors served past their time, to refresh in the background (one task at a time).
        self._due: set[str] = set()
        self._refreshing: asyncio.Task[None] | None = None
        # Counts forgets: a GetUsers answer that started before one may hold what was forgotten.
        self._generation = 0

    async def of(self, user_ids: Iterable[str]) -> dict[str, Author]:
        """The authors asked for; one GetUsers call for those not cached (deleted ones have no
        names; while users is unavailable neither have those, marked unknown). One past its time is
        served as it is and refreshed in the background, batched with the others due (a read never
        waits on users for an author it has shown before)."""
        now = time.monotonic()
        found: dict[str, Author] = {}
        missing = []
        for user_id in user_ids:
            cached = self._authors.get_stale(user_id, now)
            if cached is None:
                missing.append(user_id)
                continue
            found[user_id] = cached[0]
            if cached[1]:
                self._due.add(user_id)
        if self._due and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.create_task(self._refresh())
        if missing:
            try:
                found.update(await self._fetch(missing))
            except DependencyUnavailable as exc:
                logger.warning("authors served without names, users is unavailable: %s", exc.detail)
                found.update({user_id: Author.of(user_id, None, None, known=False) for user_id in missing})
        return found

    def forget(self, user_ids: Iterable[str]) -> None:
        """These accounts changed (or went): the next read asks users for them."""
        self._generation += 1
        for user_id in user_ids:
            self._authors.pop(user_id)

    def forget_all(self) -> None:
        self._generation += 1
        self._authors.clear()

    async def _refresh(self) -> None:
        # One refresh per window and process, however many reads found authors due meanwhile: the
        # cost follows the authors shown, not the reads.
        await asyncio.sleep(AUTHOR_REFRESH_SECONDS)
        while self._due:
            batch = list(self._due)[:REFRESH_BATCH]
            self._due.difference_update(batch)
            try:
                await self._fetch(batch)
            except DomainError as exc:
                # Served stale meanwhile; asked again on a later read.
                logger.warning("authors not refreshed: %s", exc.detail)
                return

    async def _fetch(self, user_ids: list[str]) -> dict[str, Author]:
        generation = self._generation
        found = {}
        for start in range(0, len(user_ids), MAX_AUTHORS_PER_CALL):
            batch = user_ids[start : start + MAX_AUTHORS_PER_CALL]
            reply = await self._users.GetUsers(user_service_pb2.GetUsersRequest(user_ids=batch))
            fetched = {user.id: user for user in reply.users}
            for user_id in batch:
                user = fetched.get(user_id)
                username = user.username if user is not None else None
                display_name = (user.display_name or None) if user is not None else None
                found[user_id] = Author.of(user_id, username, display_name)
        if generation == self._generation:
            now = time.monotonic()
            for user_id, author in found.items():
                self._authors.put(user_id, author, now)
        return found


@contextlib.asynccontextmanager
async def current_authors(users: UserAsyncStub, redis: Redis) -> AsyncIterator[AuthorCache]:
    """An author cache that drops the accounts announced on the `authors` stream, for the duration
    of the block (feed and tweets processes both serve authors through one)."""
    authors = AuthorCache(users)
    async with reading(Invalidations(redis, AUTHORS_STREAM, authors.forget, authors.forget_all)):
        yield authors
