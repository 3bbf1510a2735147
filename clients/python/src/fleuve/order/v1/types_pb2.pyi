from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATUS_UNSPECIFIED: _ClassVar[OrderStatus]
    ORDER_STATUS_PENDING: _ClassVar[OrderStatus]
    ORDER_STATUS_AWAITING_STOCK: _ClassVar[OrderStatus]
    ORDER_STATUS_AWAITING_PAYMENT: _ClassVar[OrderStatus]
    ORDER_STATUS_COMPENSATING: _ClassVar[OrderStatus]
    ORDER_STATUS_CONFIRMED: _ClassVar[OrderStatus]
    ORDER_STATUS_FAILED: _ClassVar[OrderStatus]
    ORDER_STATUS_CANCELLED: _ClassVar[OrderStatus]

class FailureCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAILURE_CODE_UNSPECIFIED: _ClassVar[FailureCode]
    FAILURE_CODE_OUT_OF_STOCK: _ClassVar[FailureCode]
    FAILURE_CODE_PAYMENT_DECLINED: _ClassVar[FailureCode]
    FAILURE_CODE_STOCK_CHECK_TIMED_OUT: _ClassVar[FailureCode]
    FAILURE_CODE_PAYMENT_TIMED_OUT: _ClassVar[FailureCode]
    FAILURE_CODE_CANCELLED: _ClassVar[FailureCode]
ORDER_STATUS_UNSPECIFIED: OrderStatus
ORDER_STATUS_PENDING: OrderStatus
ORDER_STATUS_AWAITING_STOCK: OrderStatus
ORDER_STATUS_AWAITING_PAYMENT: OrderStatus
ORDER_STATUS_COMPENSATING: OrderStatus
ORDER_STATUS_CONFIRMED: OrderStatus
ORDER_STATUS_FAILED: OrderStatus
ORDER_STATUS_CANCELLED: OrderStatus
FAILURE_CODE_UNSPECIFIED: FailureCode
FAILURE_CODE_OUT_OF_STOCK: FailureCode
FAILURE_CODE_PAYMENT_DECLINED: FailureCode
FAILURE_CODE_STOCK_CHECK_TIMED_OUT: FailureCode
FAILURE_CODE_PAYMENT_TIMED_OUT: FailureCode
FAILURE_CODE_CANCELLED: FailureCode

class OrderLine(_message.Message):
    __slots__ = ("product_id", "quantity", "unit_price")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    quantity: int
    unit_price: int
    def __init__(self, product_id: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[int] = ...) -> None: ...

class Failure(_message.Message):
    __slots__ = ("code", "reason", "compensation_confirmed")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COMPENSATION_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    code: FailureCode
    reason: str
    compensation_confirmed: bool
    def __init__(self, code: _Optional[_Union[FailureCode, str]] = ..., reason: _Optional[str] = ..., compensation_confirmed: _Optional[bool] = ...) -> None: ...
