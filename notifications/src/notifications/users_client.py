"""What the notifications area asks users: who the actors are, and who blocks or mutes whom."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleet_proto import user_service_pb2 as pb

if TYPE_CHECKING:
    from fleet_proto.user_service_pb2_grpc import UserAsyncStub

# GetUsers takes at most this many ids per call.
GET_USERS_MAX = 1000


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    username: str
    display_name: str


class UsersClient:
    def __init__(self, stub: UserAsyncStub) -> None:
        self._stub = stub

    async def get_many(self, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, User]:
        """The accounts that exist among `user_ids` (a deleted one is left out)."""
        ids = list(dict.fromkeys(user_ids))
        found: dict[uuid.UUID, User] = {}
        for start in range(0, len(ids), GET_USERS_MAX):
            chunk = [str(user_id) for user_id in ids[start : start + GET_USERS_MAX]]
            reply = await self._stub.GetUsers(pb.GetUsersRequest(user_ids=chunk))
            for user in reply.users:
                actor = User(uuid.UUID(user.id), user.username, user.display_name)
                found[actor.id] = actor
        return found

    async def hides(self, recipient_id: uuid.UUID, actor_id: uuid.UUID) -> bool:
        """Whether the recipient must not hear from the actor: a block either way, or a mute."""
        reply = await self._stub.IsBlockedOrMuted(
            pb.IsBlockedOrMutedRequest(user_id=str(recipient_id), other_id=str(actor_id))
        )
        return reply.blocked or reply.muted
