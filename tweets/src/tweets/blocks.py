"""The block check of a reply, like or repost: the caller's blocks (both ways), from users gRPC
`GetHiddenUsers(blocks_only)`, asked once per action before its transaction touches the database.

Asked first on purpose: the action then holds no pooled connection and no tweet row lock while
users answers (every like of a popular tweet would otherwise wait for it in turn), and the author,
known once the counter UPDATE returns the tweet, is checked against the set in memory. Not cached:
a block holds from the moment it is committed.

If users cannot answer, the action goes through (logged): likes, reposts and replies stay writable
while users is down, as the fleet promises. What a block hides is still hidden, since feeds and
notifications filter blocked accounts when they are read or written.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from fleet_proto import user_service_pb2
from shared.errors import DependencyUnavailable, Forbidden

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from fleet_proto.user_service_pb2_grpc import UserAsyncStub


class BlockCheck:
    def __init__(self, users: UserAsyncStub) -> None:
        self._users = users

    async def blocked_with(self, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
        """The accounts `user_id` blocks or is blocked by."""
        try:
            reply = await self._users.GetHiddenUsers(
                user_service_pb2.GetHiddenUsersRequest(user_id=str(user_id), blocks_only=True)
            )
        except DependencyUnavailable as exc:
            logger.warning("block check skipped, users is unavailable: %s", exc.detail)
            return frozenset()
        return frozenset(uuid.UUID(value) for value in reply.user_ids)


def refuse_if_blocked(blocked: frozenset[uuid.UUID], author_id: uuid.UUID) -> None:
    """403 when the author is among the caller's blocks (either way)."""
    if author_id in blocked:
        raise Forbidden("you cannot interact with this account's tweets")
