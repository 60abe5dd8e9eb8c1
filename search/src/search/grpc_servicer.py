"""gRPC `search_service.Search`: the same search as REST, for other services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import grpc

from fleet_proto import search_service_pb2 as pb
from fleet_proto import search_service_pb2_grpc as pb_grpc
from search.backends.base import SearchBackend
from search.schemas import DEFAULT_LIMIT
from search.service import SearchRequest, SearchService
from shared.errors import InvalidInput

SERVICE_NAME = "search_service.Search"


def _user_id(value: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidInput("user_id is not a valid id", field="user_id") from exc


def _moment(request: pb.SearchTweetsRequest, field: str) -> datetime | None:
    if not request.HasField(field):
        return None
    try:
        moment: datetime = getattr(request, field).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:  # seconds outside years 1..9999
        raise InvalidInput(f"{field} is out of range", field=field) from exc
    return moment


class SearchServicer(pb_grpc.SearchServicer):
    def __init__(self, backend: SearchBackend) -> None:
        self._service = SearchService(backend)

    async def SearchTweets(
        self, request: pb.SearchTweetsRequest, context: grpc.aio.ServicerContext
    ) -> pb.SearchTweetsReply:
        # proto3 cannot tell an unset limit from 0: 0 means the default page size.
        limit = request.limit or DEFAULT_LIMIT
        search = SearchRequest(
            query=request.query,
            limit=limit,
            offset=request.offset,
            user_id=_user_id(request.user_id),
            since=_moment(request, "since"),
            until=_moment(request, "until"),
        )
        hits, total = await self._service.search(search)
        reply = pb.SearchTweetsReply(total=total, limit=limit, offset=request.offset)
        for hit in hits:
            result = reply.results.add(
                id=str(hit.id), user_id=str(hit.user_id), content=hit.content, score=hit.score
            )
            result.created_at.FromDatetime(hit.created_at)
        return reply
