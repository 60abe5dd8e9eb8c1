"""REST routes of the tweets service: thin, they parse, call TweetService and shape the answer.

Writes need a bearer token and are rate limited per user; reads are public except the caller's
own likes and reposts. Routes with a fixed second segment (`/tweet/like`, `/tweet/repost`) are
declared before `/tweet/{tweet_id}`, which would otherwise capture them.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from shared.auth import CurrentUser, OptionalUser, TokenClaims
from shared.http.problems import PROBLEM_RESPONSES
from shared.paging import next_link
from shared.ratelimit import LimitedWriter
from tweets.deps import Composer, Items, Timelines, Transactions, TweetReader, Tweets
from tweets.items import TweetItems
from tweets.models import TweetLike, TweetMark, TweetRepost
from tweets.schemas import (
    ContentRequest,
    LikePage,
    MarkItem,
    PageLimit,
    PageOffset,
    ReplyItem,
    ReplyPage,
    RepostPage,
    TweetItem,
    TweetPage,
)
from tweets.service import TweetService

router = APIRouter(prefix="/tweet", responses=PROBLEM_RESPONSES)
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: PROBLEM_RESPONSES[422] | {"description": "no such tweet (or reply)"}}
FORBIDDEN: Responses = {403: PROBLEM_RESPONSES[422] | {"description": "someone else's tweet (or reply)"}}
BLOCKED: Responses = {
    403: PROBLEM_RESPONSES[422] | {"description": "a block stands between the two accounts"}
}
CONFLICT: Responses = {409: PROBLEM_RESPONSES[422] | {"description": "already done"}}


Writer = LimitedWriter
Limit = Annotated[PageLimit, Query()]
Offset = Annotated[PageOffset, Query()]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TweetItem, tags=["tweets"])
async def create_tweet(body: ContentRequest, caller: Writer, composer: Composer, items: Items) -> TweetItem:
    """A new tweet, answered as the item every read shows."""
    return await items.new_tweet(await composer.create(caller.user_id, body.content))


@router.get("/user/{user_id}", response_model=TweetPage, tags=["tweets"])
async def user_tweets(
    user_id: uuid.UUID,
    request: Request,
    response: Response,
    caller: OptionalUser,
    timelines: Timelines,
    items: Items,
    limit: Limit = 20,
    offset: Offset = 0,
    before: Annotated[uuid.UUID | None, Query(description="only tweets older than this tweet id")] = None,
    since_id: Annotated[uuid.UUID | None, Query(description="only tweets newer than this tweet id")] = None,
) -> TweetPage:
    """A user's tweets, newest first. Pass `next_cursor` as `before` (or follow the `Link` header)
    to page while new tweets arrive; `since_id` asks for what is newer than the newest one seen."""
    found, total = await timelines.user_tweets(user_id, limit, offset, before, since_id)
    has_more = offset + len(found) < total
    cursor = str(found[-1].id) if has_more and found else None
    if cursor is not None:
        response.headers["Link"] = next_link(request.scope, limit, cursor)
    return TweetPage(
        tweets=await items.tweets(caller.user_id if caller else None, found),
        total=total,
        limit=limit,
        offset=offset,
        has_more=has_more,
        next_cursor=cursor,
    )


# Replies


@router.post(
    "/reply/{tweet_id}",
    status_code=status.HTTP_201_CREATED,
    response_model=ReplyItem,
    tags=["replies"],
    responses=NOT_FOUND | BLOCKED,
)
async def create_reply(
    tweet_id: uuid.UUID, body: ContentRequest, caller: Writer, transactions: Transactions, items: Items
) -> ReplyItem:
    """A reply, answered as the replies list shows it (403 if a block stands between the caller and
    the tweet's author, either way)."""
    async with transactions() as tweets:
        reply = await tweets.reply(caller.user_id, tweet_id, body.content)
    (item,) = await items.replies([reply])
    return item


@router.get("/reply/{tweet_id}", response_model=ReplyPage, tags=["replies"], responses=NOT_FOUND)
async def list_replies(
    tweet_id: uuid.UUID, tweets: TweetReader, items: Items, limit: Limit = 20, offset: Offset = 0
) -> ReplyPage:
    """The replies to a tweet, oldest first."""
    found, total = await tweets.replies(tweet_id, limit, offset)
    return ReplyPage(
        replies=await items.replies(found),
        total=total,
        limit=limit,
        offset=offset,
        has_more=offset + len(found) < total,
    )


@router.delete(
    "/reply/{reply_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["replies"],
    responses=NOT_FOUND | FORBIDDEN,
)
async def delete_reply(reply_id: uuid.UUID, caller: Writer, tweets: Tweets) -> Response:
    await tweets.delete_reply(caller.user_id, reply_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Likes and reposts


async def _add_mark(
    model: type[TweetMark],
    tweet_id: uuid.UUID,
    caller: TokenClaims,
    transactions: Transactions,
    items: TweetItems,
) -> MarkItem:
    """Like or repost, then answer with the tweet as an item in its committed state."""
    async with transactions() as tweets:
        marked = await tweets.mark(model, caller.user_id, tweet_id)
        state = await tweets.viewer_state(caller.user_id, [tweet_id])
    (item,) = await items.marks(caller.user_id, [marked], state)
    return item


async def _marks(
    model: type[TweetMark],
    caller: TokenClaims,
    tweets: TweetService,
    items: TweetItems,
    limit: int,
    offset: int,
) -> tuple[list[MarkItem], int]:
    found, total = await tweets.marks(model, caller.user_id, limit, offset)
    return await items.marks(caller.user_id, found), total


@router.get("/like", response_model=LikePage, tags=["likes"])
async def list_likes(
    caller: CurrentUser, tweets: TweetReader, items: Items, limit: Limit = 20, offset: Offset = 0
) -> LikePage:
    """The caller's likes, most recent first."""
    likes, total = await _marks(TweetLike, caller, tweets, items, limit, offset)
    return LikePage(
        likes=likes, total=total, limit=limit, offset=offset, has_more=offset + len(likes) < total
    )


@router.post(
    "/like/{tweet_id}",
    status_code=status.HTTP_201_CREATED,
    response_model=MarkItem,
    tags=["likes"],
    responses=NOT_FOUND | BLOCKED | CONFLICT,
)
async def like(tweet_id: uuid.UUID, caller: Writer, transactions: Transactions, items: Items) -> MarkItem:
    return await _add_mark(TweetLike, tweet_id, caller, transactions, items)


@router.delete(
    "/like/{tweet_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["likes"], responses=NOT_FOUND
)
async def unlike(tweet_id: uuid.UUID, caller: Writer, tweets: Tweets) -> Response:
    await tweets.unmark(TweetLike, caller.user_id, tweet_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/repost", response_model=RepostPage, tags=["reposts"])
async def list_reposts(
    caller: CurrentUser, tweets: TweetReader, items: Items, limit: Limit = 20, offset: Offset = 0
) -> RepostPage:
    """The caller's reposts, most recent first."""
    reposts, total = await _marks(TweetRepost, caller, tweets, items, limit, offset)
    return RepostPage(
        reposts=reposts, total=total, limit=limit, offset=offset, has_more=offset + len(reposts) < total
    )


@router.post(
    "/repost/{tweet_id}",
    status_code=status.HTTP_201_CREATED,
    response_model=MarkItem,
    tags=["reposts"],
    responses=NOT_FOUND | BLOCKED | CONFLICT,
)
async def repost(tweet_id: uuid.UUID, caller: Writer, transactions: Transactions, items: Items) -> MarkItem:
    return await _add_mark(TweetRepost, tweet_id, caller, transactions, items)


@router.delete(
    "/repost/{tweet_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["reposts"], responses=NOT_FOUND
)
async def unrepost(tweet_id: uuid.UUID, caller: Writer, tweets: Tweets) -> Response:
    await tweets.unmark(TweetRepost, caller.user_id, tweet_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# A single tweet (last: `/tweet/{tweet_id}` would match `/tweet/like` too)


@router.get("/{tweet_id}", response_model=TweetItem, tags=["tweets"], responses=NOT_FOUND)
async def get_tweet(
    tweet_id: uuid.UUID, caller: OptionalUser, tweets: TweetReader, items: Items
) -> TweetItem:
    (item,) = await items.tweets(caller.user_id if caller else None, [await tweets.get(tweet_id)])
    return item


@router.patch("/{tweet_id}", response_model=TweetItem, tags=["tweets"], responses=NOT_FOUND | FORBIDDEN)
async def update_tweet(
    tweet_id: uuid.UUID, body: ContentRequest, caller: Writer, transactions: Transactions, items: Items
) -> TweetItem:
    async with transactions() as tweets:
        updated = await tweets.update(caller.user_id, tweet_id, body.content)
        state = await tweets.viewer_state(caller.user_id, [tweet_id])
    (item,) = await items.tweets(caller.user_id, [updated], state)
    return item


@router.delete(
    "/{tweet_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["tweets"], responses=NOT_FOUND | FORBIDDEN
)
async def delete_tweet(tweet_id: uuid.UUID, caller: Writer, tweets: Tweets) -> Response:
    await tweets.delete(caller.user_id, tweet_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
