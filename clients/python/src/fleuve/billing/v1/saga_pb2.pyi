import datetime

from fleuve.billing.v1 import types_pb2 as _types_pb2
from fleuve.common.v1 import common_pb2 as _common_pb2
from fleuve.common.v1 import saga_pb2 as _saga_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PaymentRequest(_message.Message):
    __slots__ = ("occurred_at", "step", "customer_id", "amount", "payment_token", "deadline")
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    occurred_at: _timestamp_pb2.Timestamp
    step: _saga_pb2.SagaStep
    customer_id: str
    amount: _common_pb2.Money
    payment_token: str
    deadline: _timestamp_pb2.Timestamp
    def __init__(self, occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step: _Optional[_Union[_saga_pb2.SagaStep, _Mapping]] = ..., customer_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., payment_token: _Optional[str] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PaymentResult(_message.Message):
    __slots__ = ("occurred_at", "step", "approved", "declined")
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    DECLINED_FIELD_NUMBER: _ClassVar[int]
    occurred_at: _timestamp_pb2.Timestamp
    step: _saga_pb2.SagaStep
    approved: PaymentApproved
    declined: PaymentDeclined
    def __init__(self, occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step: _Optional[_Union[_saga_pb2.SagaStep, _Mapping]] = ..., approved: _Optional[_Union[PaymentApproved, _Mapping]] = ..., declined: _Optional[_Union[PaymentDeclined, _Mapping]] = ...) -> None: ...

class PaymentApproved(_message.Message):
    __slots__ = ("charge_id", "amount")
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    charge_id: str
    amount: _common_pb2.Money
    def __init__(self, charge_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class PaymentDeclined(_message.Message):
    __slots__ = ("reason", "detail")
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    reason: _types_pb2.DeclineReason
    detail: str
    def __init__(self, reason: _Optional[_Union[_types_pb2.DeclineReason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class PaymentRefund(_message.Message):
    __slots__ = ("occurred_at", "step", "customer_id", "charge_id", "amount", "refund_id", "reason")
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    occurred_at: _timestamp_pb2.Timestamp
    step: _saga_pb2.SagaStep
    customer_id: str
    charge_id: str
    amount: _common_pb2.Money
    refund_id: str
    reason: str
    def __init__(self, occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., step: _Optional[_Union[_saga_pb2.SagaStep, _Mapping]] = ..., customer_id: _Optional[str] = ..., charge_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., refund_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
