"""gRPC `notification_service.Notifications`: what other services may ask."""

from __future__ import annotations

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet_proto import notification_service_pb2 as pb
from fleet_proto import notification_service_pb2_grpc as pb_grpc
from notifications.repository import NotificationRepository
from shared.db.engine import read_only_sessions, transaction
from shared.grpc.fields import parse_uuid

SERVICE_NAME = "notification_service.Notifications"


class NotificationServicer(pb_grpc.NotificationsServicer):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._reads = read_only_sessions(sessions)

    async def GetUnreadCount(
        self, request: pb.GetUnreadCountRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUnreadCountReply:
        user_id = parse_uuid(request.user_id, "user_id")
        async with transaction(self._reads) as session:
            count = await NotificationRepository(session).unread_count(user_id)
        return pb.GetUnreadCountReply(unread_count=count)
