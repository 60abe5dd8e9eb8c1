"""A tweet's entities as they are stored: its hashtags, and the `@names` that are accounts.

The grammar is shared.entities; here the candidates become mentions through ONE users call
(GetUsersByUsername), made only when the text has an `@`, so most posts cost nothing extra.
"""

from __future__ import annotations

import logging

from fleet_proto import user_service_pb2 as users_pb
from fleet_proto import user_service_pb2_grpc as users_grpc
from shared.entities import hashtags, mention_candidates
from shared.errors import DependencyFailed, DependencyUnavailable, Overloaded
from shared.messaging.events import Entities, Mention

logger = logging.getLogger(__name__)
# A write never waits on users for long: past this, the tweet is stored without its mentions.
RESOLVE_TIMEOUT_SECONDS = 1.0


class MentionResolver:
    """Turns `@names` into the accounts they name, in one batch call to users."""

    def __init__(
        self, users: users_grpc.UserAsyncStub, timeout_seconds: float = RESOLVE_TIMEOUT_SECONDS
    ) -> None:
        self._users = users
        self._timeout = timeout_seconds

    async def resolve(self, names: list[str]) -> list[Mention]:
        """The accounts among `names` (lower-cased), in the order of `names`; unknown ones left out.

        If users cannot answer, no mentions (the write goes on; editing the tweet resolves again).
        """
        if not names:
            return []
        try:
            reply = await self._users.GetUsersByUsername(
                users_pb.GetUsersByUsernameRequest(usernames=names), timeout=self._timeout
            )
        except (DependencyUnavailable, DependencyFailed, Overloaded) as exc:
            logger.warning("mentions not resolved, users is unavailable: %s", exc.detail)
            return []
        found = {user.username.lower(): user for user in reply.users}
        return [Mention(id=found[name].id, username=found[name].username) for name in names if name in found]


async def parse_entities(content: str, resolver: MentionResolver) -> Entities:
    """The hashtags and mentions of `content`."""
    return Entities(hashtags=hashtags(content), mentions=await resolver.resolve(mention_candidates(content)))
