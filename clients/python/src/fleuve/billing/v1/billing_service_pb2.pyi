import datetime

from fleuve.billing.v1 import types_pb2 as _types_pb2
from fleuve.common.v1 import common_pb2 as _common_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Account(_message.Message):
    __slots__ = ("customer_id", "currency", "balance", "credit_limit", "available", "opened_at", "version")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    currency: str
    balance: int
    credit_limit: int
    available: int
    opened_at: _timestamp_pb2.Timestamp
    version: int
    def __init__(self, customer_id: _Optional[str] = ..., currency: _Optional[str] = ..., balance: _Optional[int] = ..., credit_limit: _Optional[int] = ..., available: _Optional[int] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class Refund(_message.Message):
    __slots__ = ("refund_id", "order_id", "charge_id", "amount", "reason", "refunded_at")
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_AT_FIELD_NUMBER: _ClassVar[int]
    refund_id: str
    order_id: str
    charge_id: str
    amount: _common_pb2.Money
    reason: str
    refunded_at: _timestamp_pb2.Timestamp
    def __init__(self, refund_id: _Optional[str] = ..., order_id: _Optional[str] = ..., charge_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reason: _Optional[str] = ..., refunded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Charge(_message.Message):
    __slots__ = ("charge_id", "order_id", "customer_id", "amount", "status", "decline_reason", "decline_detail", "provider_reference", "refunded", "refunds", "charged_at")
    CHARGE_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DECLINE_REASON_FIELD_NUMBER: _ClassVar[int]
    DECLINE_DETAIL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_FIELD_NUMBER: _ClassVar[int]
    CHARGED_AT_FIELD_NUMBER: _ClassVar[int]
    charge_id: str
    order_id: str
    customer_id: str
    amount: _common_pb2.Money
    status: _types_pb2.ChargeStatus
    decline_reason: _types_pb2.DeclineReason
    decline_detail: str
    provider_reference: str
    refunded: int
    refunds: _containers.RepeatedCompositeFieldContainer[Refund]
    charged_at: _timestamp_pb2.Timestamp
    def __init__(self, charge_id: _Optional[str] = ..., order_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., status: _Optional[_Union[_types_pb2.ChargeStatus, str]] = ..., decline_reason: _Optional[_Union[_types_pb2.DeclineReason, str]] = ..., decline_detail: _Optional[str] = ..., provider_reference: _Optional[str] = ..., refunded: _Optional[int] = ..., refunds: _Optional[_Iterable[_Union[Refund, _Mapping]]] = ..., charged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class OpenAccountRequest(_message.Message):
    __slots__ = ("customer_id", "currency", "credit_limit", "opening_balance")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    OPENING_BALANCE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    currency: str
    credit_limit: int
    opening_balance: int
    def __init__(self, customer_id: _Optional[str] = ..., currency: _Optional[str] = ..., credit_limit: _Optional[int] = ..., opening_balance: _Optional[int] = ...) -> None: ...

class OpenAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class CreditAccountRequest(_message.Message):
    __slots__ = ("customer_id", "amount", "reference")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    amount: _common_pb2.Money
    reference: str
    def __init__(self, customer_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reference: _Optional[str] = ...) -> None: ...

class CreditAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class SetCreditLimitRequest(_message.Message):
    __slots__ = ("customer_id", "credit_limit")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    credit_limit: int
    def __init__(self, customer_id: _Optional[str] = ..., credit_limit: _Optional[int] = ...) -> None: ...

class SetCreditLimitResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class GetAccountResponse(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: Account
    def __init__(self, account: _Optional[_Union[Account, _Mapping]] = ...) -> None: ...

class GetChargeRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class GetChargeResponse(_message.Message):
    __slots__ = ("charge",)
    CHARGE_FIELD_NUMBER: _ClassVar[int]
    charge: Charge
    def __init__(self, charge: _Optional[_Union[Charge, _Mapping]] = ...) -> None: ...

class ListChargesRequest(_message.Message):
    __slots__ = ("customer_id", "status", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    status: _types_pb2.ChargeStatus
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., status: _Optional[_Union[_types_pb2.ChargeStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListChargesResponse(_message.Message):
    __slots__ = ("charges", "next_page_token")
    CHARGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    charges: _containers.RepeatedCompositeFieldContainer[Charge]
    next_page_token: str
    def __init__(self, charges: _Optional[_Iterable[_Union[Charge, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListRefundsRequest(_message.Message):
    __slots__ = ("customer_id", "page_size", "page_token")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    page_size: int
    page_token: str
    def __init__(self, customer_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRefundsResponse(_message.Message):
    __slots__ = ("refunds", "next_page_token")
    REFUNDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refunds: _containers.RepeatedCompositeFieldContainer[Refund]
    next_page_token: str
    def __init__(self, refunds: _Optional[_Iterable[_Union[Refund, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RefundRequest(_message.Message):
    __slots__ = ("order_id", "amount", "reason", "refund_id")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    amount: _common_pb2.Money
    reason: str
    refund_id: str
    def __init__(self, order_id: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., reason: _Optional[str] = ..., refund_id: _Optional[str] = ...) -> None: ...

class RefundResponse(_message.Message):
    __slots__ = ("charge",)
    CHARGE_FIELD_NUMBER: _ClassVar[int]
    charge: Charge
    def __init__(self, charge: _Optional[_Union[Charge, _Mapping]] = ...) -> None: ...
