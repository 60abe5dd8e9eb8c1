import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TweetReply(_message.Message):
    __slots__ = ("id", "user_id", "content", "num_likes", "num_replys", "num_reposts", "created_at", "updated_at", "entities")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    NUM_LIKES_FIELD_NUMBER: _ClassVar[int]
    NUM_REPLYS_FIELD_NUMBER: _ClassVar[int]
    NUM_REPOSTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    user_id: str
    content: str
    num_likes: int
    num_replys: int
    num_reposts: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    entities: Entities
    def __init__(self, id: _Optional[str] = ..., user_id: _Optional[str] = ..., content: _Optional[str] = ..., num_likes: _Optional[int] = ..., num_replys: _Optional[int] = ..., num_reposts: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., entities: _Optional[_Union[Entities, _Mapping]] = ...) -> None: ...

class Mention(_message.Message):
    __slots__ = ("id", "username")
    ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    username: str
    def __init__(self, id: _Optional[str] = ..., username: _Optional[str] = ...) -> None: ...

class Entities(_message.Message):
    __slots__ = ("hashtags", "mentions")
    HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    MENTIONS_FIELD_NUMBER: _ClassVar[int]
    hashtags: _containers.RepeatedScalarFieldContainer[str]
    mentions: _containers.RepeatedCompositeFieldContainer[Mention]
    def __init__(self, hashtags: _Optional[_Iterable[str]] = ..., mentions: _Optional[_Iterable[_Union[Mention, _Mapping]]] = ...) -> None: ...

class GetTweetsRequest(_message.Message):
    __slots__ = ("tweet_ids",)
    TWEET_IDS_FIELD_NUMBER: _ClassVar[int]
    tweet_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tweet_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetTweetsReply(_message.Message):
    __slots__ = ("tweets",)
    TWEETS_FIELD_NUMBER: _ClassVar[int]
    tweets: _containers.RepeatedCompositeFieldContainer[TweetReply]
    def __init__(self, tweets: _Optional[_Iterable[_Union[TweetReply, _Mapping]]] = ...) -> None: ...

class GetUserTweetsRequest(_message.Message):
    __slots__ = ("user_id", "limit", "before_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    limit: int
    before_id: str
    def __init__(self, user_id: _Optional[str] = ..., limit: _Optional[int] = ..., before_id: _Optional[str] = ...) -> None: ...

class ListTweetsRequest(_message.Message):
    __slots__ = ("limit", "after_id")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    limit: int
    after_id: str
    def __init__(self, limit: _Optional[int] = ..., after_id: _Optional[str] = ...) -> None: ...

class GetUserRepostsRequest(_message.Message):
    __slots__ = ("user_id", "limit", "before_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    limit: int
    before_id: str
    def __init__(self, user_id: _Optional[str] = ..., limit: _Optional[int] = ..., before_id: _Optional[str] = ...) -> None: ...

class Repost(_message.Message):
    __slots__ = ("id", "tweet_id", "user_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    tweet_id: str
    user_id: str
    def __init__(self, id: _Optional[str] = ..., tweet_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class GetUserRepostsReply(_message.Message):
    __slots__ = ("reposts",)
    REPOSTS_FIELD_NUMBER: _ClassVar[int]
    reposts: _containers.RepeatedCompositeFieldContainer[Repost]
    def __init__(self, reposts: _Optional[_Iterable[_Union[Repost, _Mapping]]] = ...) -> None: ...

class GetViewerStateRequest(_message.Message):
    __slots__ = ("user_id", "tweet_ids")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TWEET_IDS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    tweet_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_id: _Optional[str] = ..., tweet_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetViewerStateReply(_message.Message):
    __slots__ = ("liked_ids", "reposted_ids")
    LIKED_IDS_FIELD_NUMBER: _ClassVar[int]
    REPOSTED_IDS_FIELD_NUMBER: _ClassVar[int]
    liked_ids: _containers.RepeatedScalarFieldContainer[str]
    reposted_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, liked_ids: _Optional[_Iterable[str]] = ..., reposted_ids: _Optional[_Iterable[str]] = ...) -> None: ...
