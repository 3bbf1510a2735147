import datetime

from fleuve.billing.v1 import types_pb2 as _types_pb2
from fleuve.common.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccountEvent(_message.Message):
    __slots__ = ("occurred_at", "opened", "credited", "credit_limit_changed", "charged", "refunded")
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    OPENED_FIELD_NUMBER: _ClassVar[int]
    CREDITED_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LIMIT_CHANGED_FIELD_NUMBER: _ClassVar[int]
    CHARGED_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    occurred_at: _timestamp_pb2.Timestamp
    opened: AccountOpened
    credited: AccountCredited
    credit_limit_changed: CreditLimitChanged
    charged: AccountCharged
    refunded: AccountRefunded
    def __init__(self, occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., opened: _Optional[_Union[AccountOpened, _Mapping]] = ..., credited: _Optional[_Union[AccountCredited, _Mapping]] = ..., credit_limit_changed: _Optional[_Union[CreditLimitChanged, _Mapping]] = ..., charged: _Optional[_Union[AccountCharged, _Mapping]] = ..., refunded: _Optional[_Union[AccountRefunded, _Mapping]] = ...) -> None: ...

class AccountOpened(_message.Message):
    __slots__ = ("customer_id", "currency", "credit_limit", "balance")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    currency: str
    credit_limit: int
    balance: int
    def __init__(self, customer_id: _Optional[str] = ..., currency: _Optional[str] = ..., credit_limit: _Optional[int] = ..., balance: _Optional[int] = ...) -> None: ...

class AccountCredited(_message.Message):
    __slots__ = ("amount", "reference")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    amount: _common_pb2.Money
    reference: str
    def __init__(self, amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reference: _Optional[str] = ...) -> None: ...

class CreditLimitChanged(_message.Message):
    __slots__ = ("credit_limit",)
    CREDIT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    credit_limit: int
    def __init__(self, credit_limit: _Optional[int] = ...) -> None: ...

class AccountCharged(_message.Message):
    __slots__ = ("charge_id", "order_id", "amount")
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    charge_id: str
    order_id: str
    amount: _common_pb2.Money
    def __init__(self, charge_id: _Optional[str] = ..., order_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class AccountRefunded(_message.Message):
    __slots__ = ("refund_id", "order_id", "amount")
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    refund_id: str
    order_id: str
    amount: _common_pb2.Money
    def __init__(self, refund_id: _Optional[str] = ..., order_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class ChargeEvent(_message.Message):
    __slots__ = ("occurred_at", "approved", "declined", "timed_out", "refunded")
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    DECLINED_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    occurred_at: _timestamp_pb2.Timestamp
    approved: ChargeApproved
    declined: ChargeDeclined
    timed_out: ChargeTimedOut
    refunded: ChargeRefunded
    def __init__(self, occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., approved: _Optional[_Union[ChargeApproved, _Mapping]] = ..., declined: _Optional[_Union[ChargeDeclined, _Mapping]] = ..., timed_out: _Optional[_Union[ChargeTimedOut, _Mapping]] = ..., refunded: _Optional[_Union[ChargeRefunded, _Mapping]] = ...) -> None: ...

class ChargeApproved(_message.Message):
    __slots__ = ("charge_id", "order_id", "customer_id", "amount", "provider_reference")
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    charge_id: str
    order_id: str
    customer_id: str
    amount: _common_pb2.Money
    provider_reference: str
    def __init__(self, charge_id: _Optional[str] = ..., order_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., provider_reference: _Optional[str] = ...) -> None: ...

class ChargeDeclined(_message.Message):
    __slots__ = ("charge_id", "order_id", "customer_id", "amount", "reason", "detail")
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    charge_id: str
    order_id: str
    customer_id: str
    amount: _common_pb2.Money
    reason: _types_pb2.DeclineReason
    detail: str
    def __init__(self, charge_id: _Optional[str] = ..., order_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reason: _Optional[_Union[_types_pb2.DeclineReason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class ChargeTimedOut(_message.Message):
    __slots__ = ("charge_id", "order_id", "customer_id", "amount")
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    charge_id: str
    order_id: str
    customer_id: str
    amount: _common_pb2.Money
    def __init__(self, charge_id: _Optional[str] = ..., order_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class ChargeRefunded(_message.Message):
    __slots__ = ("refund_id", "amount", "reason")
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    refund_id: str
    amount: _common_pb2.Money
    reason: str
    def __init__(self, refund_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...
