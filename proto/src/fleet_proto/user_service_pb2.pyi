import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UserReply(_message.Message):
    __slots__ = ("id", "username", "display_name", "bio", "num_tweets", "num_followers", "num_following", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    BIO_FIELD_NUMBER: _ClassVar[int]
    NUM_TWEETS_FIELD_NUMBER: _ClassVar[int]
    NUM_FOLLOWERS_FIELD_NUMBER: _ClassVar[int]
    NUM_FOLLOWING_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    username: str
    display_name: str
    bio: str
    num_tweets: int
    num_followers: int
    num_following: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., username: _Optional[str] = ..., display_name: _Optional[str] = ..., bio: _Optional[str] = ..., num_tweets: _Optional[int] = ..., num_followers: _Optional[int] = ..., num_following: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class GetUsersRequest(_message.Message):
    __slots__ = ("user_ids",)
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetUsersReply(_message.Message):
    __slots__ = ("users",)
    USERS_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[UserReply]
    def __init__(self, users: _Optional[_Iterable[_Union[UserReply, _Mapping]]] = ...) -> None: ...

class IncrementTweetsRequest(_message.Message):
    __slots__ = ("user_id", "delta", "idempotency_key")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    delta: int
    idempotency_key: str
    def __init__(self, user_id: _Optional[str] = ..., delta: _Optional[int] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class IncrementTweetsReply(_message.Message):
    __slots__ = ("num_tweets",)
    NUM_TWEETS_FIELD_NUMBER: _ClassVar[int]
    num_tweets: int
    def __init__(self, num_tweets: _Optional[int] = ...) -> None: ...

class IncrementTweetsBatchRequest(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[IncrementTweetsRequest]
    def __init__(self, changes: _Optional[_Iterable[_Union[IncrementTweetsRequest, _Mapping]]] = ...) -> None: ...

class IncrementTweetsResult(_message.Message):
    __slots__ = ("user_id", "num_tweets", "found", "applied")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    NUM_TWEETS_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    num_tweets: int
    found: bool
    applied: bool
    def __init__(self, user_id: _Optional[str] = ..., num_tweets: _Optional[int] = ..., found: _Optional[bool] = ..., applied: _Optional[bool] = ...) -> None: ...

class IncrementTweetsBatchReply(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[IncrementTweetsResult]
    def __init__(self, results: _Optional[_Iterable[_Union[IncrementTweetsResult, _Mapping]]] = ...) -> None: ...

class FollowPageRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class FollowPageReply(_message.Message):
    __slots__ = ("user_ids", "next_page_token")
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class IsFollowingRequest(_message.Message):
    __slots__ = ("follower_id", "following_id")
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWING_ID_FIELD_NUMBER: _ClassVar[int]
    follower_id: str
    following_id: str
    def __init__(self, follower_id: _Optional[str] = ..., following_id: _Optional[str] = ...) -> None: ...

class IsFollowingReply(_message.Message):
    __slots__ = ("following",)
    FOLLOWING_FIELD_NUMBER: _ClassVar[int]
    following: bool
    def __init__(self, following: _Optional[bool] = ...) -> None: ...

class IsBlockedRequest(_message.Message):
    __slots__ = ("user_id", "other_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    OTHER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    other_id: str
    def __init__(self, user_id: _Optional[str] = ..., other_id: _Optional[str] = ...) -> None: ...

class IsBlockedReply(_message.Message):
    __slots__ = ("blocked",)
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    blocked: bool
    def __init__(self, blocked: _Optional[bool] = ...) -> None: ...

class GetHiddenUsersRequest(_message.Message):
    __slots__ = ("user_id", "blocks_only")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_ONLY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    blocks_only: bool
    def __init__(self, user_id: _Optional[str] = ..., blocks_only: _Optional[bool] = ...) -> None: ...

class GetHiddenUsersReply(_message.Message):
    __slots__ = ("user_ids",)
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetUsersByUsernameRequest(_message.Message):
    __slots__ = ("usernames",)
    USERNAMES_FIELD_NUMBER: _ClassVar[int]
    usernames: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, usernames: _Optional[_Iterable[str]] = ...) -> None: ...

class ListUsersRequest(_message.Message):
    __slots__ = ("limit", "after_id")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    limit: int
    after_id: str
    def __init__(self, limit: _Optional[int] = ..., after_id: _Optional[str] = ...) -> None: ...

class IsBlockedOrMutedRequest(_message.Message):
    __slots__ = ("user_id", "other_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    OTHER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    other_id: str
    def __init__(self, user_id: _Optional[str] = ..., other_id: _Optional[str] = ...) -> None: ...

class IsBlockedOrMutedReply(_message.Message):
    __slots__ = ("blocked", "muted")
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    MUTED_FIELD_NUMBER: _ClassVar[int]
    blocked: bool
    muted: bool
    def __init__(self, blocked: _Optional[bool] = ..., muted: _Optional[bool] = ...) -> None: ...
