import datetime

from fleuve.common.v1 import saga_pb2 as _saga_pb2
from fleuve.stock.v1 import types_pb2 as _types_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StockCheckRequest(_message.Message):
    __slots__ = ("occurred_at", "step", "lines", "deadline")
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    occurred_at: _timestamp_pb2.Timestamp
    step: _saga_pb2.SagaStep
    lines: _containers.RepeatedCompositeFieldContainer[_types_pb2.StockLine]
    deadline: _timestamp_pb2.Timestamp
    def __init__(self, occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step: _Optional[_Union[_saga_pb2.SagaStep, _Mapping]] = ..., lines: _Optional[_Iterable[_Union[_types_pb2.StockLine, _Mapping]]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StockRelease(_message.Message):
    __slots__ = ("occurred_at", "step", "reason", "deadline")
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    occurred_at: _timestamp_pb2.Timestamp
    step: _saga_pb2.SagaStep
    reason: str
    deadline: _timestamp_pb2.Timestamp
    def __init__(self, occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step: _Optional[_Union[_saga_pb2.SagaStep, _Mapping]] = ..., reason: _Optional[str] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StockChecked(_message.Message):
    __slots__ = ("occurred_at", "step", "reserved", "insufficient", "released")
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    INSUFFICIENT_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    occurred_at: _timestamp_pb2.Timestamp
    step: _saga_pb2.SagaStep
    reserved: StockReserved
    insufficient: StockInsufficient
    released: StockReleased
    def __init__(self, occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step: _Optional[_Union[_saga_pb2.SagaStep, _Mapping]] = ..., reserved: _Optional[_Union[StockReserved, _Mapping]] = ..., insufficient: _Optional[_Union[StockInsufficient, _Mapping]] = ..., released: _Optional[_Union[StockReleased, _Mapping]] = ...) -> None: ...

class StockReserved(_message.Message):
    __slots__ = ("lines",)
    LINES_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[_types_pb2.StockLine]
    def __init__(self, lines: _Optional[_Iterable[_Union[_types_pb2.StockLine, _Mapping]]] = ...) -> None: ...

class StockInsufficient(_message.Message):
    __slots__ = ("shortages",)
    SHORTAGES_FIELD_NUMBER: _ClassVar[int]
    shortages: _containers.RepeatedCompositeFieldContainer[_types_pb2.Shortage]
    def __init__(self, shortages: _Optional[_Iterable[_Union[_types_pb2.Shortage, _Mapping]]] = ...) -> None: ...

class StockReleased(_message.Message):
    __slots__ = ("lines",)
    LINES_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[_types_pb2.StockLine]
    def __init__(self, lines: _Optional[_Iterable[_Union[_types_pb2.StockLine, _Mapping]]] = ...) -> None: ...
