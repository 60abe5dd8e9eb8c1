"""Queries of the users database; counters change in single UPDATE statements (atomic)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import delete, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.db.raw import statement_span
from shared.text import fold
from users.models import Block, Follow, User

# One round trip for both relations of a pair; each EXISTS is a primary-key probe.
_RELATIONSHIP = text(
    "SELECT EXISTS (SELECT 1 FROM blocks WHERE (user_id = :user_id AND target_id = :other_id)"
    " OR (user_id = :other_id AND target_id = :user_id)) AS blocked,"
    " EXISTS (SELECT 1 FROM mutes WHERE user_id = :user_id AND target_id = :other_id) AS muted"
)

# A transaction-scoped advisory lock on an unordered pair of accounts (users.repository.lock_pair).
_LOCK_PAIR = text("SELECT pg_advisory_xact_lock(:key)")


def pair_lock_key(user_id: uuid.UUID, other_id: uuid.UUID) -> int:
    """The advisory lock key of a pair, the same whichever account comes first: a signed 64-bit
    hash of both ids in order (a collision only makes two unrelated pairs wait for each other)."""
    low, high = sorted((user_id, other_id))
    digest = hashlib.blake2b(low.bytes + high.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# A counter stays within [0, MAX_TWEET_COUNT], a count every JSON client reads exactly. The sum is
# taken as numeric, so even a counter already at bigint's maximum cannot make the statement fail.
MAX_TWEET_COUNT = 2**53 - 1
_CLAMPED = f"least(greatest(num_tweets::numeric + :delta, 0), {MAX_TWEET_COUNT})"
_INCREMENT = text(f"UPDATE actors SET num_tweets = {_CLAMPED} WHERE id = :user_id RETURNING num_tweets")
# The main SELECT sees the row as it was before the CTE's UPDATE: `current` is the count when the
# key was already applied (nothing changed), `changed` the new count otherwise.
_INCREMENT_ONCE = text(
    "WITH applied AS ("
    " INSERT INTO applied_increments (key) VALUES (:key) ON CONFLICT DO NOTHING RETURNING key"
    "), changed AS ("
    f" UPDATE actors SET num_tweets = {_CLAMPED}"
    " WHERE id = :user_id AND EXISTS (SELECT 1 FROM applied) RETURNING num_tweets"
    ") SELECT (SELECT num_tweets FROM changed) AS changed,"
    " (SELECT num_tweets FROM actors WHERE id = :user_id) AS current"
)

# The batch of the counter relay: the rows of its users are locked first (in id order, like
# _shift_follow_counters), so _INCREMENT_BATCH, a later statement of the same transaction, reads
# counts that nobody can change before the commit.
_LOCK_ACTORS = text("SELECT id FROM actors WHERE id = ANY(:ids) ORDER BY id FOR UPDATE")
# Every change of a batch in one statement, as if _INCREMENT_ONCE (or _INCREMENT, for an empty
# key) ran for each in order: $1 user ids, $2 deltas, $3 keys, in request order.
# - Only the first use of a key by a user that exists may apply (an unknown user leaves its key
#   unused, as the single call's rollback does); it applies if the key was not recorded before.
# - The count after each change, clamped at zero at every step (c_k = max(c_{k-1} + d_k, 0)), is
#   in closed form: with t_k the running sum of the applied deltas, c_k = t_k - least(-c_0,
#   min(t_1..t_k)) (Lindley's recursion), so window functions compute it for every change.
# - The ceiling MAX_TWEET_COUNT is applied to that result (sums are numeric, so nothing overflows):
#   exact unless a batch both reaches the ceiling and comes down again, which deltas of one never do.
# - A user's row is written once, with the count after its last change.
# One row per change, in order: num_tweets NULL when the user does not exist.
_INCREMENT_BATCH = """
WITH change AS (
  SELECT c.position, c.user_id, c.delta, c.key, a.num_tweets AS start
  FROM unnest($1::uuid[], $2::bigint[], $3::text[]) WITH ORDINALITY AS c(user_id, delta, key, position)
  LEFT JOIN actors a ON a.id = c.user_id
), first_use AS (
  SELECT DISTINCT ON (key) key, position FROM change
  WHERE start IS NOT NULL AND key <> '' ORDER BY key, position
), recorded AS (
  INSERT INTO applied_increments (key) SELECT key FROM first_use ORDER BY key
  ON CONFLICT DO NOTHING RETURNING key
), step AS (
  SELECT ch.position, ch.user_id, ch.start, ch.delta,
         (ch.key = '' OR recorded.key IS NOT NULL) AS applied
  FROM change ch
  LEFT JOIN first_use ON first_use.position = ch.position
  LEFT JOIN recorded ON recorded.key = first_use.key
  WHERE ch.start IS NOT NULL
), running AS (
  SELECT position, user_id, start, applied,
         sum(CASE WHEN applied THEN delta ELSE 0 END) OVER upto AS total
  FROM step
  WINDOW upto AS (PARTITION BY user_id ORDER BY position ROWS UNBOUNDED PRECEDING)
), walk AS (
  SELECT position, user_id, applied,
         least(total - least(-start, min(total) OVER upto), {max_count})::bigint AS num_tweets
  FROM running
  WINDOW upto AS (PARTITION BY user_id ORDER BY position ROWS UNBOUNDED PRECEDING)
), counted AS (
  UPDATE actors SET num_tweets = last.num_tweets
  FROM (SELECT DISTINCT ON (user_id) user_id, num_tweets FROM walk ORDER BY user_id, position DESC) AS last
  WHERE actors.id = last.user_id AND actors.num_tweets <> last.num_tweets
)
SELECT walk.num_tweets, coalesce(walk.applied, false) AS applied
FROM change LEFT JOIN walk ON walk.position = change.position
ORDER BY change.position
""".replace("{max_count}", str(MAX_TWEET_COUNT))

# The accounts the deleted one followed lose a follower, its followers one followed account.
_UNCOUNT_FOLLOWS = text(
    "WITH edges AS ("
    " SELECT following_id AS other, 1 AS followers, 0 AS following FROM follows WHERE follower_id = :user_id"
    " UNION ALL"
    " SELECT follower_id, 0, 1 FROM follows WHERE following_id = :user_id"
    "), per AS ("
    " SELECT other, sum(followers) AS followers, sum(following) AS following FROM edges"
    " WHERE other <> :user_id GROUP BY other"
    "), locked AS ("
    " SELECT a.id FROM actors a JOIN per ON per.other = a.id ORDER BY a.id FOR UPDATE OF a"
    ") UPDATE actors SET num_followers = greatest(num_followers - per.followers, 0),"
    " num_following = greatest(num_following - per.following, 0)"
    " FROM per WHERE actors.id = per.other AND actors.id IN (SELECT id FROM locked)"
)


class Profile(NamedTuple):
    """What user search shows of an account."""

    username: str
    display_name: str
    num_followers: int


class TweetCountChange(NamedTuple):
    user_id: uuid.UUID
    delta: int
    idempotency_key: str  # "" applies every time


class TweetCountResult(NamedTuple):
    num_tweets: int | None  # None: the user does not exist (nothing changed, the key stays unused)
    applied: bool  # False when the key had been applied already


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, email: str, username: str, password_hash: str) -> User:
        user = User(
            email=email,
            email_key=fold(email),
            username=username,
            password_hash=password_hash,
            display_name=username,
        )
        self.session.add(user)
        await self.session.flush()
        await self.session.refresh(user)
        return user

    async def email_or_username_taken(self, email: str, username: str) -> str | None:
        """Which of the two is already used (emails folded, usernames case-insensitively), if any."""
        email_key = fold(email)
        row = (
            await self.session.execute(
                select(User.email_key == email_key, func.lower(User.username) == username.lower())
                .where((User.email_key == email_key) | (func.lower(User.username) == username.lower()))
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return "email" if row[0] else "username"

    async def get(self, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
        return await self.session.get(User, user_id, with_for_update=for_update)

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        await self.session.execute(
            update(User).where(User.id == user_id).values(password_hash=password_hash, updated_at=func.now())
        )

    async def delete_with_follows(self, user_id: uuid.UUID) -> None:
        """Delete the account; its follows go with it (ON DELETE CASCADE) after the counters of
        the other side of each edge are moved back, in id order like _shift_follow_counters."""
        await self.session.execute(_UNCOUNT_FOLLOWS, {"user_id": user_id})
        await self.session.execute(delete(User).where(User.id == user_id))

    async def get_many(self, user_ids: Sequence[uuid.UUID]) -> list[User]:
        if not user_ids:
            return []
        return list((await self.session.execute(select(User).where(User.id.in_(user_ids)))).scalars())

    async def get_many_by_username(self, usernames: Sequence[str]) -> list[User]:
        """The accounts among `usernames` (case-insensitive; the unique lower(username) index)."""
        if not usernames:
            return []
        lowered = sorted({name.lower() for name in usernames})
        query = select(User).where(func.lower(User.username).in_(lowered))
        return list((await self.session.execute(query)).scalars())

    async def users_after(self, after: uuid.UUID | None, limit: int) -> list[User]:
        """A keyset page of every account in id order."""
        query = select(User)
        if after is not None:
            query = query.where(User.id > after)
        return list((await self.session.execute(query.order_by(User.id).limit(limit))).scalars())

    async def find_by_login(self, identifier: str) -> User | None:
        if "@" in identifier:
            match = User.email_key == fold(identifier)
        else:
            match = func.lower(User.username) == identifier.lower()
        return (await self.session.execute(select(User).where(match))).scalar_one_or_none()

    async def update_profile(self, user_id: uuid.UUID, changes: dict[str, str]) -> User | None:
        if changes:
            await self.session.execute(
                update(User).where(User.id == user_id).values(**changes, updated_at=func.now())
            )
        user = await self.get(user_id)
        if user is not None:
            await self.session.refresh(user)
        return user

    async def lock_pair(self, user_id: uuid.UUID, other_id: uuid.UUID) -> None:
        """Hold the pair's lock until the transaction ends: a follow and a block between the same two
        accounts (either way) then run one after the other, and the later one sees the earlier one
        committed (a follow finds the block and is refused; a block finds the follow and removes it).
        Without it, each could check before the other committed and a follow would outlive a block."""
        await self.session.execute(_LOCK_PAIR, {"key": pair_lock_key(user_id, other_id)})

    async def add_follow(self, follower_id: uuid.UUID, following_id: uuid.UUID) -> Profile | None:
        """Insert the edge and bump both counters; the followed account's profile after it, None if the
        edge existed already."""
        inserted = (
            await self.session.execute(
                pg_insert(Follow)
                .values(follower_id=follower_id, following_id=following_id)
                .on_conflict_do_nothing()
                .returning(Follow.follower_id)
            )
        ).first()
        if inserted is None:
            return None
        return await self._shift_follow_counters(follower_id, following_id, +1)

    async def remove_follow(self, follower_id: uuid.UUID, following_id: uuid.UUID) -> Profile | None:
        deleted = (
            await self.session.execute(
                delete(Follow)
                .where(Follow.follower_id == follower_id, Follow.following_id == following_id)
                .returning(Follow.follower_id)
            )
        ).first()
        if deleted is None:
            return None
        return await self._shift_follow_counters(follower_id, following_id, -1)

    async def _shift_follow_counters(
        self, follower_id: uuid.UUID, following_id: uuid.UUID, delta: int
    ) -> Profile:
        """Move both counters; the followed account's profile as the update left it (for user.update)."""
        # Rows are locked in id order so that A-follows-B and B-follows-A never deadlock.
        changes = {
            follower_id: {"num_following": User.num_following + delta},
            following_id: {"num_followers": User.num_followers + delta},
        }
        followed: Profile | None = None
        for user_id in sorted(changes):
            row = (
                await self.session.execute(
                    update(User)
                    .where(User.id == user_id)
                    .values(**changes[user_id])
                    .returning(User.username, User.display_name, User.num_followers)
                    .execution_options(synchronize_session=False)
                )
            ).one()
            if user_id == following_id:
                followed = Profile(row.username, row.display_name, int(row.num_followers))
        assert followed is not None
        return followed

    async def either_blocks(self, user_id: uuid.UUID, other_id: uuid.UUID) -> bool:
        """Whether either account blocks the other (one query, two primary-key probes)."""
        pairs = tuple_(Block.user_id, Block.target_id).in_([(user_id, other_id), (other_id, user_id)])
        return (await self.session.execute(select(Block.user_id).where(pairs).limit(1))).first() is not None

    async def is_following(self, follower_id: uuid.UUID, following_id: uuid.UUID) -> bool:
        found = await self.session.get(Follow, (follower_id, following_id))
        return found is not None

    async def blocked_or_muted(self, user_id: uuid.UUID, other_id: uuid.UUID) -> tuple[bool, bool]:
        """(either blocks the other, user_id mutes other_id)."""
        row = (await self.session.execute(_RELATIONSHIP, {"user_id": user_id, "other_id": other_id})).one()
        return bool(row.blocked), bool(row.muted)

    async def list_followers(self, user_id: uuid.UUID, limit: int, offset: int) -> tuple[list[User], int]:
        return await self._list_edge(Follow.following_id, Follow.follower_id, user_id, limit, offset)

    async def list_following(self, user_id: uuid.UUID, limit: int, offset: int) -> tuple[list[User], int]:
        return await self._list_edge(Follow.follower_id, Follow.following_id, user_id, limit, offset)

    async def _list_edge(
        self,
        match_column: InstrumentedAttribute[uuid.UUID],
        other_column: InstrumentedAttribute[uuid.UUID],
        user_id: uuid.UUID,
        limit: int,
        offset: int,
    ) -> tuple[list[User], int]:
        total = (await self.session.execute(select(func.count()).where(match_column == user_id))).scalar_one()
        found = (
            await self.session.execute(
                select(User)
                .join(Follow, other_column == User.id)
                .where(match_column == user_id)
                .order_by(Follow.created_at.desc(), other_column)
                .limit(limit)
                .offset(offset)
            )
        ).scalars()
        return list(found), int(total)

    async def follower_ids_after(self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[str]:
        """A keyset page of follower ids in id order (index-only scan on (following_id, follower_id)).

        Ids come back as text: a page can hold 10,000 of them, and they go straight into protobuf.
        """
        return await self._edge_ids(Follow.following_id, Follow.follower_id, user_id, after, limit)

    async def following_ids_after(self, user_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[str]:
        return await self._edge_ids(Follow.follower_id, Follow.following_id, user_id, after, limit)

    async def _edge_ids(
        self,
        match_column: InstrumentedAttribute[uuid.UUID],
        other_column: InstrumentedAttribute[uuid.UUID],
        user_id: uuid.UUID,
        after: uuid.UUID | None,
        limit: int,
    ) -> list[str]:
        # Straight through asyncpg: every fan-out reads all of an author's followers, and the ORM
        # session's per-row result handling cost ~10x the query itself on a 10,000-id page.
        match, other = match_column.key, other_column.key
        sql = f"SELECT {other}::text FROM follows WHERE {match} = $1"
        args: list[object] = [user_id]
        if after is not None:
            sql += f" AND {other} > $2"
            args.append(after)
        sql += f" ORDER BY {other} LIMIT ${len(args) + 1}"
        connection = await (await self.session.connection()).get_raw_connection()
        with statement_span("SELECT follows", sql):
            driver: Any = connection.driver_connection  # asyncpg.Connection
            rows = await driver.fetch(sql, *args, limit)
        return [row[0] for row in rows]

    async def increment_tweets(self, user_id: uuid.UUID, delta: int, idempotency_key: str) -> int | None:
        """Apply delta once per key (never below zero); None if the user does not exist.

        One statement (the counter relay calls this for every tweet): record the key, move the
        counter only if the key was new, and return the count either way."""
        if not idempotency_key:
            return (
                await self.session.execute(_INCREMENT, {"user_id": user_id, "delta": delta})
            ).scalar_one_or_none()
        row = (
            await self.session.execute(
                _INCREMENT_ONCE, {"user_id": user_id, "delta": delta, "key": idempotency_key}
            )
        ).one()
        return row.changed if row.changed is not None else row.current

    async def increment_tweets_batch(self, changes: Sequence[TweetCountChange]) -> list[TweetCountResult]:
        """Apply the changes in order, each key once, as increment_tweets would one by one; one
        result per change. Two statements whatever the batch size (the relay sends hundreds)."""
        if not changes:
            return []
        # Through the session: it also begins the transaction the raw statement below runs in.
        await self.session.execute(_LOCK_ACTORS, {"ids": sorted({change.user_id for change in changes})})
        connection = await (await self.session.connection()).get_raw_connection()
        driver: Any = connection.driver_connection  # asyncpg.Connection
        if not driver.is_in_transaction():
            raise RuntimeError("increment_tweets_batch must run inside the session's transaction")
        with statement_span("UPDATE actors", _INCREMENT_BATCH):
            rows = await driver.fetch(
                _INCREMENT_BATCH,
                [change.user_id for change in changes],
                [change.delta for change in changes],
                [change.idempotency_key for change in changes],
            )
        return [TweetCountResult(row["num_tweets"], row["applied"]) for row in rows]
