"""Users logic: registration, login, profiles, the follow graph and its events."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import TokenCodec
from shared.errors import BadRequest, Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from shared.messaging.events import UserDeleteEvent, UserFollowEvent, UserProfileEvent
from shared.messaging.outbox import RABBITMQ, OutboxMessage, enqueue
from shared.messaging.topology import (
    USER_CREATE,
    USER_EVENTS,
    USER_FOLLOW,
    USER_UNFOLLOW,
    USER_UPDATE,
)
from shared.revocation import Revocations
from users.models import User
from users.repository import Profile, TweetCountChange, TweetCountResult, UserRepository

_hasher = PasswordHasher()
# Verified against when the user does not exist, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
MAX_FOLLOW_PAGE = 10_000
# The counter relay sends at most 500 changes per IncrementTweetsBatch.
MAX_INCREMENT_BATCH = 1_000
# A tweet moves a counter by one; a larger step is a bug or an attack, refused before it is stored.
MAX_INCREMENT_DELTA = 1_000_000


def _check_delta(delta: int) -> None:
    if abs(delta) > MAX_INCREMENT_DELTA:
        raise InvalidInput(
            f"delta must be between -{MAX_INCREMENT_DELTA} and {MAX_INCREMENT_DELTA}", field="delta"
        )


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_in: int
    user: User


class UserService:
    def __init__(self, session: AsyncSession, codec: TokenCodec | None = None) -> None:
        self.session = session
        self.users = UserRepository(session)
        self._codec = codec

    async def register(self, email: str, username: str, password: str) -> User:
        # Hash before touching the database: no pooled connection is held during the slow hash.
        password_hash = await asyncio.to_thread(_hasher.hash, password)
        taken = await self.users.email_or_username_taken(email, username)
        if taken:
            raise Conflict(f"that {taken} is already registered", field=taken)
        try:
            user = await self.users.add(email, username, password_hash)
        except IntegrityError as exc:  # a concurrent registration won the race
            raise Conflict("that email or username is already registered") from exc
        await enqueue(self.session, _profile_message(USER_CREATE, user.id, _profile(user)))
        return user

    async def login(self, identifier: str, password: str) -> LoginResult:
        """Check the password (as long for an unknown account as for a wrong password)."""
        assert self._codec is not None
        user = await self.users.find_by_login(identifier)
        stored = user.password_hash if user is not None else _DUMMY_HASH
        await self.session.commit()  # release the connection before the slow verification
        try:
            await asyncio.to_thread(_hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            user = None
        if user is None:
            raise Unauthorized("wrong credentials")
        token = self._codec.issue(user.id, user.username)
        return LoginResult(token, self._codec.lifetime_seconds, user)

    async def get(self, user_id: uuid.UUID) -> User:
        user = await self.users.get(user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user

    async def get_many(self, user_ids: Sequence[uuid.UUID]) -> list[User]:
        """The users found among `user_ids` (any order; the missing ones left out)."""
        return await self.users.get_many(user_ids)

    async def get_many_by_username(self, usernames: Sequence[str]) -> list[User]:
        """The accounts among `usernames`, case-insensitively; unknown ones left out."""
        return await self.users.get_many_by_username(usernames)

    async def users_after(self, after: uuid.UUID | None, limit: int) -> list[User]:
        """A keyset page of every account in id order, strictly after `after` when given."""
        return await self.users.users_after(after, limit)

    async def by_username(self, username: str) -> User:
        user = await self.users.find_by_login(username) if "@" not in username else None
        if user is None:
            raise NotFound(f"user {username!r} not found")
        return user

    async def change_password(
        self, user_id: uuid.UUID, current: str, new: str, revocations: Revocations
    ) -> None:
        """Set a new password; every token issued before is revoked.

        Revoked before the commit: if the commit then fails, the old password still works and
        the user logs in again, never the other way round (a new password and live old tokens).
        """
        user = await self._locked_with_password(user_id, current)
        new_hash = await asyncio.to_thread(_hasher.hash, new)
        await self.users.set_password_hash(user.id, new_hash)
        await revocations.revoke_user(user.id)

    async def delete_account(self, user_id: uuid.UUID, password: str, revocations: Revocations) -> None:
        """Delete the account and its follows (others' counters corrected) and announce
        `user.delete`, on which tweets deletes its tweets, likes and reposts. Tokens revoked first.

        Each follow that went is announced as `user.unfollow`, as a block announces the follows it
        ends: feed_worker takes the account's tweets and reposts out of its followers' feeds and
        brings back what they still see another way (the original of a tweet it reposted, when
        they follow that tweet's author)."""
        user = await self._locked_with_password(user_id, password)
        await revocations.revoke_user(user.id)
        await self._announce_ended_follows(user.id)
        await self.users.delete_with_follows(user.id)
        await enqueue(self.session, _user_event(UserDeleteEvent(user_id=user.id)))

    async def _announce_ended_follows(self, user_id: uuid.UUID) -> None:
        """A user.unfollow for every follow of the account, both ways, read before the cascade
        deletes them: a page at a time, so an account with millions of followers never holds
        them all, nor writes one statement of them all."""
        for following in (False, True):
            token = ""
            while True:
                ids, token = await self.follower_ids_page(
                    user_id, MAX_FOLLOW_PAGE, token, following=following
                )
                pairs = [
                    (user_id, uuid.UUID(other)) if following else (uuid.UUID(other), user_id) for other in ids
                ]
                if pairs:
                    await enqueue(
                        self.session,
                        *(
                            _user_event(
                                UserFollowEvent(event_type=USER_UNFOLLOW, follower_id=a, following_id=b)
                            )
                            for a, b in pairs
                        ),
                    )
                if not token:
                    break

    async def _locked_with_password(self, user_id: uuid.UUID, password: str) -> User:
        """The caller's row, locked; 403 if `password` is not its password.

        The row lock is held across the slow hash check, but only the caller's own row."""
        user = await self.users.get(user_id, for_update=True)
        if user is None:
            raise Unauthorized("token is invalid")
        try:
            await asyncio.to_thread(_hasher.verify, user.password_hash, password)
        except (VerificationError, InvalidHashError) as exc:
            raise Forbidden("the password is wrong", field="password") from exc
        return user

    async def update_profile(self, user_id: uuid.UUID, changes: dict[str, str]) -> User:
        user = await self.users.update_profile(user_id, changes)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        if changes:
            await enqueue(self.session, _profile_message(USER_UPDATE, user_id, _profile(user)))
        return user

    async def follow(self, follower_id: uuid.UUID, following_id: uuid.UUID) -> None:
        if follower_id == following_id:
            raise BadRequest("you cannot follow yourself")
        # Before the block check: a block of the same pair committing meanwhile waits for this
        # transaction, or this one for it (users.repository.lock_pair).
        await self.users.lock_pair(follower_id, following_id)
        await self.get(following_id)
        await self.get(follower_id)
        if await self.users.either_blocks(follower_id, following_id):
            raise Forbidden("you cannot follow this user")
        followed = await self.users.add_follow(follower_id, following_id)
        if followed is None:
            raise Conflict("already following this user")
        await self._announce(USER_FOLLOW, follower_id, following_id, followed)

    async def unfollow(self, follower_id: uuid.UUID, following_id: uuid.UUID) -> None:
        followed = await self.users.remove_follow(follower_id, following_id)
        if followed is None:
            raise NotFound("you are not following this user")
        await self._announce(USER_UNFOLLOW, follower_id, following_id, followed)

    async def announce_unfollow(
        self, follower_id: uuid.UUID, following_id: uuid.UUID, followed: Profile
    ) -> None:
        """The user.unfollow event of a follow removed otherwise (by a block)."""
        await self._announce(USER_UNFOLLOW, follower_id, following_id, followed)

    async def _announce(
        self,
        event_type: Literal["user.follow", "user.unfollow"],
        follower_id: uuid.UUID,
        following_id: uuid.UUID,
        followed: Profile,
    ) -> None:
        """Write the event, and the followed account's new follower count (user.update), to the outbox in
        the same transaction as the change (one statement)."""
        event = UserFollowEvent(
            event_type=event_type,
            follower_id=follower_id,
            following_id=following_id,
        )
        message = OutboxMessage(
            RABBITMQ,
            event.model_dump(mode="json"),
            message_id=str(event.event_id),
            exchange=USER_EVENTS,
            routing_key=event_type,
        )
        await enqueue(self.session, message, _profile_message(USER_UPDATE, following_id, followed))

    async def followers(self, user_id: uuid.UUID, limit: int, offset: int) -> tuple[list[User], int]:
        await self.get(user_id)
        return await self.users.list_followers(user_id, limit, offset)

    async def following(self, user_id: uuid.UUID, limit: int, offset: int) -> tuple[list[User], int]:
        await self.get(user_id)
        return await self.users.list_following(user_id, limit, offset)

    async def is_following(self, follower_id: uuid.UUID, following_id: uuid.UUID) -> bool:
        """Whether the follow exists now."""
        return await self.users.is_following(follower_id, following_id)

    async def blocked_or_muted(self, user_id: uuid.UUID, other_id: uuid.UUID) -> tuple[bool, bool]:
        """Whether either blocks the other, and whether user_id mutes other_id."""
        return await self.users.blocked_or_muted(user_id, other_id)

    async def follower_ids_page(
        self, user_id: uuid.UUID, page_size: int, page_token: str, *, following: bool = False
    ) -> tuple[list[str], str]:
        """One page of follower (or followed) ids and the token of the next page ("" at the end)."""
        page_size = min(max(page_size or 1000, 1), MAX_FOLLOW_PAGE)
        after = decode_page_token(page_token)
        fetch = self.users.following_ids_after if following else self.users.follower_ids_after
        ids = await fetch(user_id, after, page_size)
        next_token = encode_page_token(uuid.UUID(ids[-1])) if len(ids) == page_size else ""
        return ids, next_token

    async def increment_tweets(self, user_id: uuid.UUID, delta: int, idempotency_key: str) -> int:
        _check_delta(delta)
        count = await self.users.increment_tweets(user_id, delta, idempotency_key)
        if count is None:
            raise NotFound(f"user {user_id} not found")
        return count

    async def increment_tweets_batch(self, changes: Sequence[TweetCountChange]) -> list[TweetCountResult]:
        """increment_tweets for each change, in order, in the caller's transaction; an unknown
        user is a result (num_tweets None), not an error, so the other changes still apply."""
        if len(changes) > MAX_INCREMENT_BATCH:
            raise InvalidInput(f"at most {MAX_INCREMENT_BATCH} changes per call", field="changes")
        for change in changes:
            _check_delta(change.delta)
        return await self.users.increment_tweets_batch(changes)


def _profile(user: User) -> Profile:
    return Profile(user.username, user.display_name, user.num_followers)


def _profile_message(
    event_type: Literal["user.create", "user.update"], user_id: uuid.UUID, profile: Profile
) -> OutboxMessage:
    """What user search shows of the account, as the current transaction leaves it.

    Made after the account's row was written (so locked until the commit): `occurred_at` is
    then later than that of any earlier event of the account, and orders them in the index."""
    event = UserProfileEvent(
        event_type=event_type,
        user_id=user_id,
        username=profile.username,
        display_name=profile.display_name,
        num_followers=profile.num_followers,
        occurred_at=datetime.now(UTC),
    )
    return OutboxMessage(
        RABBITMQ,
        event.model_dump(mode="json"),
        message_id=str(event.event_id),
        exchange=USER_EVENTS,
        routing_key=event_type,
    )


def encode_page_token(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_page_token(token: str) -> uuid.UUID | None:
    if not token:
        return None
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError as exc:
        raise InvalidInput("page_token is not valid") from exc


def _user_event(event: UserFollowEvent | UserDeleteEvent) -> OutboxMessage:
    """An event on user_events, routed by its type."""
    return OutboxMessage(
        RABBITMQ,
        event.model_dump(mode="json"),
        message_id=str(event.event_id),
        exchange=USER_EVENTS,
        routing_key=event.event_type,
    )
