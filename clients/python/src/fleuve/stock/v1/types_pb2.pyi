from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ReservationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESERVATION_STATUS_UNSPECIFIED: _ClassVar[ReservationStatus]
    RESERVATION_STATUS_RESERVED: _ClassVar[ReservationStatus]
    RESERVATION_STATUS_REJECTED: _ClassVar[ReservationStatus]
    RESERVATION_STATUS_RELEASED: _ClassVar[ReservationStatus]
RESERVATION_STATUS_UNSPECIFIED: ReservationStatus
RESERVATION_STATUS_RESERVED: ReservationStatus
RESERVATION_STATUS_REJECTED: ReservationStatus
RESERVATION_STATUS_RELEASED: ReservationStatus

class StockLine(_message.Message):
    __slots__ = ("product_id", "quantity")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    quantity: int
    def __init__(self, product_id: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class Shortage(_message.Message):
    __slots__ = ("product_id", "requested", "available", "unknown_product")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_PRODUCT_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    requested: int
    available: int
    unknown_product: bool
    def __init__(self, product_id: _Optional[str] = ..., requested: _Optional[int] = ..., available: _Optional[int] = ..., unknown_product: _Optional[bool] = ...) -> None: ...
