import datetime

from fleuve.common.v1 import common_pb2 as _common_pb2
from fleuve.stock.v1 import types_pb2 as _types_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProductEvent(_message.Message):
    __slots__ = ("occurred_at", "created", "restocked", "reserved", "released")
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    RESTOCKED_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    occurred_at: _timestamp_pb2.Timestamp
    created: ProductCreated
    restocked: ProductRestocked
    reserved: QuantityReserved
    released: QuantityReleased
    def __init__(self, occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created: _Optional[_Union[ProductCreated, _Mapping]] = ..., restocked: _Optional[_Union[ProductRestocked, _Mapping]] = ..., reserved: _Optional[_Union[QuantityReserved, _Mapping]] = ..., released: _Optional[_Union[QuantityReleased, _Mapping]] = ...) -> None: ...

class ProductCreated(_message.Message):
    __slots__ = ("product_id", "name", "quantity", "price")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    name: str
    quantity: int
    price: _common_pb2.Money
    def __init__(self, product_id: _Optional[str] = ..., name: _Optional[str] = ..., quantity: _Optional[int] = ..., price: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class ProductRestocked(_message.Message):
    __slots__ = ("quantity", "reference")
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    quantity: int
    reference: str
    def __init__(self, quantity: _Optional[int] = ..., reference: _Optional[str] = ...) -> None: ...

class QuantityReserved(_message.Message):
    __slots__ = ("order_id", "quantity")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    quantity: int
    def __init__(self, order_id: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class QuantityReleased(_message.Message):
    __slots__ = ("order_id", "quantity")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    quantity: int
    def __init__(self, order_id: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class ReservationEvent(_message.Message):
    __slots__ = ("occurred_at", "made", "rejected", "released")
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    MADE_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    occurred_at: _timestamp_pb2.Timestamp
    made: ReservationMade
    rejected: ReservationRejected
    released: ReservationReleased
    def __init__(self, occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., made: _Optional[_Union[ReservationMade, _Mapping]] = ..., rejected: _Optional[_Union[ReservationRejected, _Mapping]] = ..., released: _Optional[_Union[ReservationReleased, _Mapping]] = ...) -> None: ...

class ReservationMade(_message.Message):
    __slots__ = ("order_id", "lines")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    lines: _containers.RepeatedCompositeFieldContainer[_types_pb2.StockLine]
    def __init__(self, order_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[_types_pb2.StockLine, _Mapping]]] = ...) -> None: ...

class ReservationRejected(_message.Message):
    __slots__ = ("order_id", "shortages")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SHORTAGES_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    shortages: _containers.RepeatedCompositeFieldContainer[_types_pb2.Shortage]
    def __init__(self, order_id: _Optional[str] = ..., shortages: _Optional[_Iterable[_Union[_types_pb2.Shortage, _Mapping]]] = ...) -> None: ...

class ReservationReleased(_message.Message):
    __slots__ = ("order_id", "lines", "reason")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    lines: _containers.RepeatedCompositeFieldContainer[_types_pb2.StockLine]
    reason: str
    def __init__(self, order_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[_types_pb2.StockLine, _Mapping]]] = ..., reason: _Optional[str] = ...) -> None: ...
