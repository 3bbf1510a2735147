import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeadLetterStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEAD_LETTER_STATUS_UNSPECIFIED: _ClassVar[DeadLetterStatus]
    DEAD_LETTER_STATUS_PARKED: _ClassVar[DeadLetterStatus]
    DEAD_LETTER_STATUS_REDRIVEN: _ClassVar[DeadLetterStatus]
    DEAD_LETTER_STATUS_DISCARDED: _ClassVar[DeadLetterStatus]
DEAD_LETTER_STATUS_UNSPECIFIED: DeadLetterStatus
DEAD_LETTER_STATUS_PARKED: DeadLetterStatus
DEAD_LETTER_STATUS_REDRIVEN: DeadLetterStatus
DEAD_LETTER_STATUS_DISCARDED: DeadLetterStatus

class DeadLetter(_message.Message):
    __slots__ = ("id", "consumer", "topic", "partition", "offset", "key", "event_id", "correlation_id", "error", "attempts", "status", "created_at", "resolved_at", "headers", "resolution")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    id: int
    consumer: str
    topic: str
    partition: int
    offset: int
    key: str
    event_id: str
    correlation_id: str
    error: str
    attempts: int
    status: DeadLetterStatus
    created_at: _timestamp_pb2.Timestamp
    resolved_at: _timestamp_pb2.Timestamp
    headers: _containers.ScalarMap[str, str]
    resolution: str
    def __init__(self, id: _Optional[int] = ..., consumer: _Optional[str] = ..., topic: _Optional[str] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ..., key: _Optional[str] = ..., event_id: _Optional[str] = ..., correlation_id: _Optional[str] = ..., error: _Optional[str] = ..., attempts: _Optional[int] = ..., status: _Optional[_Union[DeadLetterStatus, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolved_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., headers: _Optional[_Mapping[str, str]] = ..., resolution: _Optional[str] = ...) -> None: ...

class ListDeadLettersRequest(_message.Message):
    __slots__ = ("consumer", "status", "page_size", "page_token")
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consumer: str
    status: DeadLetterStatus
    page_size: int
    page_token: str
    def __init__(self, consumer: _Optional[str] = ..., status: _Optional[_Union[DeadLetterStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDeadLettersResponse(_message.Message):
    __slots__ = ("dead_letters", "next_page_token")
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dead_letters: _containers.RepeatedCompositeFieldContainer[DeadLetter]
    next_page_token: str
    def __init__(self, dead_letters: _Optional[_Iterable[_Union[DeadLetter, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RedriveDeadLettersRequest(_message.Message):
    __slots__ = ("id", "all", "consumer")
    ID_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    id: int
    all: bool
    consumer: str
    def __init__(self, id: _Optional[int] = ..., all: _Optional[bool] = ..., consumer: _Optional[str] = ...) -> None: ...

class RedriveOutcome(_message.Message):
    __slots__ = ("id", "redriven", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    REDRIVEN_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: int
    redriven: bool
    error: str
    def __init__(self, id: _Optional[int] = ..., redriven: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class RedriveDeadLettersResponse(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[RedriveOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[RedriveOutcome, _Mapping]]] = ...) -> None: ...

class DiscardDeadLetterRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: int
    reason: str
    def __init__(self, id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class DiscardDeadLetterResponse(_message.Message):
    __slots__ = ("dead_letter",)
    DEAD_LETTER_FIELD_NUMBER: _ClassVar[int]
    dead_letter: DeadLetter
    def __init__(self, dead_letter: _Optional[_Union[DeadLetter, _Mapping]] = ...) -> None: ...

class ListProjectionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Projection(_message.Message):
    __slots__ = ("name", "topics", "rebuildable", "applied_events", "parked_dead_letters")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    REBUILDABLE_FIELD_NUMBER: _ClassVar[int]
    APPLIED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    PARKED_DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    topics: _containers.RepeatedScalarFieldContainer[str]
    rebuildable: bool
    applied_events: int
    parked_dead_letters: int
    def __init__(self, name: _Optional[str] = ..., topics: _Optional[_Iterable[str]] = ..., rebuildable: _Optional[bool] = ..., applied_events: _Optional[int] = ..., parked_dead_letters: _Optional[int] = ...) -> None: ...

class ListProjectionsResponse(_message.Message):
    __slots__ = ("projections",)
    PROJECTIONS_FIELD_NUMBER: _ClassVar[int]
    projections: _containers.RepeatedCompositeFieldContainer[Projection]
    def __init__(self, projections: _Optional[_Iterable[_Union[Projection, _Mapping]]] = ...) -> None: ...

class RebuildProjectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RebuildProjectionResponse(_message.Message):
    __slots__ = ("name", "replayed_events", "caught_up_events", "rows", "elapsed_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    CAUGHT_UP_EVENTS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    replayed_events: int
    caught_up_events: int
    rows: int
    elapsed_seconds: float
    def __init__(self, name: _Optional[str] = ..., replayed_events: _Optional[int] = ..., caught_up_events: _Optional[int] = ..., rows: _Optional[int] = ..., elapsed_seconds: _Optional[float] = ...) -> None: ...

class StreamRebuildProjectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class StreamRebuildProjectionResponse(_message.Message):
    __slots__ = ("replayed_events", "position", "last_position", "done")
    REPLAYED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    LAST_POSITION_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    replayed_events: int
    position: int
    last_position: int
    done: RebuildProjectionResponse
    def __init__(self, replayed_events: _Optional[int] = ..., position: _Optional[int] = ..., last_position: _Optional[int] = ..., done: _Optional[_Union[RebuildProjectionResponse, _Mapping]] = ...) -> None: ...
