import datetime

from fleuve.billing.v1 import saga_pb2 as _saga_pb2
from fleuve.common.v1 import saga_pb2 as _saga_pb2_1
from fleuve.order.v1 import saga_pb2 as _saga_pb2_1_1
from fleuve.order.v1 import types_pb2 as _types_pb2
from fleuve.stock.v1 import saga_pb2 as _saga_pb2_1_1_1
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OrderEvent(_message.Message):
    __slots__ = ("occurred_at", "placed", "stock_check_requested", "stock_checked", "payment_requested", "payment_result", "stock_release_requested", "payment_refund_requested", "deadline_missed", "compensation_started", "confirmed", "failed")
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PLACED_FIELD_NUMBER: _ClassVar[int]
    STOCK_CHECK_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    STOCK_CHECKED_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_RESULT_FIELD_NUMBER: _ClassVar[int]
    STOCK_RELEASE_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_REFUND_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MISSED_FIELD_NUMBER: _ClassVar[int]
    COMPENSATION_STARTED_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    occurred_at: _timestamp_pb2.Timestamp
    placed: _saga_pb2_1_1.OrderPlaced
    stock_check_requested: _saga_pb2_1_1_1.StockCheckRequest
    stock_checked: _saga_pb2_1_1_1.StockChecked
    payment_requested: _saga_pb2.PaymentRequest
    payment_result: _saga_pb2.PaymentResult
    stock_release_requested: _saga_pb2_1_1_1.StockRelease
    payment_refund_requested: _saga_pb2.PaymentRefund
    deadline_missed: DeadlineMissed
    compensation_started: CompensationStarted
    confirmed: _saga_pb2_1_1.OrderConfirmed
    failed: _saga_pb2_1_1.OrderFailed
    def __init__(self, occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., placed: _Optional[_Union[_saga_pb2_1_1.OrderPlaced, _Mapping]] = ..., stock_check_requested: _Optional[_Union[_saga_pb2_1_1_1.StockCheckRequest, _Mapping]] = ..., stock_checked: _Optional[_Union[_saga_pb2_1_1_1.StockChecked, _Mapping]] = ..., payment_requested: _Optional[_Union[_saga_pb2.PaymentRequest, _Mapping]] = ..., payment_result: _Optional[_Union[_saga_pb2.PaymentResult, _Mapping]] = ..., stock_release_requested: _Optional[_Union[_saga_pb2_1_1_1.StockRelease, _Mapping]] = ..., payment_refund_requested: _Optional[_Union[_saga_pb2.PaymentRefund, _Mapping]] = ..., deadline_missed: _Optional[_Union[DeadlineMissed, _Mapping]] = ..., compensation_started: _Optional[_Union[CompensationStarted, _Mapping]] = ..., confirmed: _Optional[_Union[_saga_pb2_1_1.OrderConfirmed, _Mapping]] = ..., failed: _Optional[_Union[_saga_pb2_1_1.OrderFailed, _Mapping]] = ...) -> None: ...

class DeadlineMissed(_message.Message):
    __slots__ = ("step", "deadline")
    STEP_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    step: _saga_pb2_1.SagaStep
    deadline: _timestamp_pb2.Timestamp
    def __init__(self, step: _Optional[_Union[_saga_pb2_1.SagaStep, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CompensationStarted(_message.Message):
    __slots__ = ("failure",)
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    failure: _types_pb2.Failure
    def __init__(self, failure: _Optional[_Union[_types_pb2.Failure, _Mapping]] = ...) -> None: ...
