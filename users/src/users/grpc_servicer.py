"""gRPC `user_service.User`: the read side and counters other services call."""

from __future__ import annotations

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet_proto import user_service_pb2 as pb
from fleet_proto import user_service_pb2_grpc as pb_grpc
from shared.db.engine import read_only_sessions, transaction
from shared.errors import InvalidInput
from shared.grpc.fields import parse_uuid
from users.models import User
from users.relations import RelationService
from users.repository import TweetCountChange
from users.service import UserService

SERVICE_NAME = "user_service.User"
# Callers ask for one feed page of authors at a time; more is a bug or an abuse, not a read.
MAX_GET_USERS = 1000
# A tweet names at most 50 accounts (shared.entities.MAX_MENTIONS); a page of ListUsers at most 1000.
MAX_GET_USERNAMES = 100
MAX_LIST_USERS = 1000
# applied_increments.key is String(128): a longer key is the caller's error, not an INTERNAL one.
MAX_IDEMPOTENCY_KEY = 128


def _check_key(key: str) -> str:
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInput(
            f"idempotency_key must be at most {MAX_IDEMPOTENCY_KEY} characters", field="idempotency_key"
        )
    return key


def to_reply(user: User) -> pb.UserReply:
    reply = pb.UserReply(
        id=str(user.id),
        username=user.username,
        display_name=user.display_name,
        bio=user.bio,
        num_tweets=user.num_tweets,
        num_followers=user.num_followers,
        num_following=user.num_following,
    )
    reply.created_at.FromDatetime(user.created_at)
    return reply


class UserServicer(pb_grpc.UserServicer):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory
        # GetUser(s) and the follow pages are single reads: no transaction needed.
        self._reads = read_only_sessions(session_factory)

    async def GetUser(self, request: pb.GetUserRequest, context: grpc.aio.ServicerContext) -> pb.UserReply:
        user_id = parse_uuid(request.user_id, "user_id")
        async with transaction(self._reads) as session:
            return to_reply(await UserService(session).get(user_id))

    async def GetUsers(
        self, request: pb.GetUsersRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUsersReply:
        if len(request.user_ids) > MAX_GET_USERS:
            raise InvalidInput(f"at most {MAX_GET_USERS} user_ids per call", field="user_ids")
        ids = [parse_uuid(value, "user_ids") for value in request.user_ids]
        async with transaction(self._reads) as session:
            found = {user.id: user for user in await UserService(session).get_many(ids)}
        return pb.GetUsersReply(users=[to_reply(found[i]) for i in ids if i in found])

    async def GetUsersByUsername(
        self, request: pb.GetUsersByUsernameRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUsersReply:
        """The accounts of these usernames, case-insensitively, in one query; unknown ones left out."""
        if len(request.usernames) > MAX_GET_USERNAMES:
            raise InvalidInput(f"at most {MAX_GET_USERNAMES} usernames per call", field="usernames")
        async with transaction(self._reads) as session:
            found = await UserService(session).get_many_by_username(list(request.usernames))
        return pb.GetUsersReply(users=[to_reply(user) for user in found])

    async def ListUsers(
        self, request: pb.ListUsersRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUsersReply:
        """Every account in id order, strictly after after_id when given."""
        if request.limit < 0:
            raise InvalidInput("limit must not be negative", field="limit")
        after = parse_uuid(request.after_id, "after_id") if request.after_id else None
        limit = min(request.limit or MAX_LIST_USERS, MAX_LIST_USERS)
        async with transaction(self._reads) as session:
            found = await UserService(session).users_after(after, limit)
        return pb.GetUsersReply(users=[to_reply(user) for user in found])

    async def IncrementTweets(
        self, request: pb.IncrementTweetsRequest, context: grpc.aio.ServicerContext
    ) -> pb.IncrementTweetsReply:
        user_id = parse_uuid(request.user_id, "user_id")
        async with transaction(self._sessions) as session:
            count = await UserService(session).increment_tweets(
                user_id, request.delta, _check_key(request.idempotency_key)
            )
        return pb.IncrementTweetsReply(num_tweets=count)

    async def IncrementTweetsBatch(
        self, request: pb.IncrementTweetsBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.IncrementTweetsBatchReply:
        # Every id is checked before anything is applied: one bad id fails the whole call.
        changes = [
            TweetCountChange(
                parse_uuid(change.user_id, "user_id"), change.delta, _check_key(change.idempotency_key)
            )
            for change in request.changes
        ]
        if not changes:
            return pb.IncrementTweetsBatchReply()
        async with transaction(self._sessions) as session:
            results = await UserService(session).increment_tweets_batch(changes)
        return pb.IncrementTweetsBatchReply(
            results=[
                pb.IncrementTweetsResult(
                    user_id=change.user_id,
                    num_tweets=result.num_tweets or 0,
                    found=result.num_tweets is not None,
                    applied=result.applied,
                )
                for change, result in zip(request.changes, results, strict=True)
            ]
        )

    async def GetFollowers(
        self, request: pb.FollowPageRequest, context: grpc.aio.ServicerContext
    ) -> pb.FollowPageReply:
        return await self._page(request, following=False)

    async def GetFollowing(
        self, request: pb.FollowPageRequest, context: grpc.aio.ServicerContext
    ) -> pb.FollowPageReply:
        return await self._page(request, following=True)

    async def IsFollowing(
        self, request: pb.IsFollowingRequest, context: grpc.aio.ServicerContext
    ) -> pb.IsFollowingReply:
        follower_id = parse_uuid(request.follower_id, "follower_id")
        following_id = parse_uuid(request.following_id, "following_id")
        async with transaction(self._sessions) as session:
            return pb.IsFollowingReply(
                following=await UserService(session).is_following(follower_id, following_id)
            )

    async def IsBlocked(
        self, request: pb.IsBlockedRequest, context: grpc.aio.ServicerContext
    ) -> pb.IsBlockedReply:
        user_id = parse_uuid(request.user_id, "user_id")
        other_id = parse_uuid(request.other_id, "other_id")
        async with transaction(self._reads) as session:
            return pb.IsBlockedReply(blocked=await RelationService(session).is_blocked(user_id, other_id))

    async def GetHiddenUsers(
        self, request: pb.GetHiddenUsersRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetHiddenUsersReply:
        user_id = parse_uuid(request.user_id, "user_id")
        async with transaction(self._reads) as session:
            hidden = await RelationService(session).hidden(user_id, blocks_only=request.blocks_only)
        return pb.GetHiddenUsersReply(user_ids=[str(i) for i in hidden])

    async def IsBlockedOrMuted(
        self, request: pb.IsBlockedOrMutedRequest, context: grpc.aio.ServicerContext
    ) -> pb.IsBlockedOrMutedReply:
        user_id = parse_uuid(request.user_id, "user_id")
        other_id = parse_uuid(request.other_id, "other_id")
        async with transaction(self._reads) as session:
            blocked, muted = await UserService(session).blocked_or_muted(user_id, other_id)
        return pb.IsBlockedOrMutedReply(blocked=blocked, muted=muted)

    async def _page(self, request: pb.FollowPageRequest, *, following: bool) -> pb.FollowPageReply:
        user_id = parse_uuid(request.user_id, "user_id")
        async with transaction(self._reads) as session:
            ids, next_token = await UserService(session).follower_ids_page(
                user_id, request.page_size, request.page_token, following=following
            )
        return pb.FollowPageReply(user_ids=ids, next_page_token=next_token)
