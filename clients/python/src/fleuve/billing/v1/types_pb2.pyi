from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class DeclineReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECLINE_REASON_UNSPECIFIED: _ClassVar[DeclineReason]
    DECLINE_REASON_INSUFFICIENT_FUNDS: _ClassVar[DeclineReason]
    DECLINE_REASON_CARD_FLAGGED: _ClassVar[DeclineReason]
    DECLINE_REASON_UNKNOWN_ACCOUNT: _ClassVar[DeclineReason]
    DECLINE_REASON_CURRENCY_MISMATCH: _ClassVar[DeclineReason]
    DECLINE_REASON_DEADLINE_PASSED: _ClassVar[DeclineReason]
    DECLINE_REASON_INVALID_TOKEN: _ClassVar[DeclineReason]
    DECLINE_REASON_INVALID_AMOUNT: _ClassVar[DeclineReason]

class ChargeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHARGE_STATUS_UNSPECIFIED: _ClassVar[ChargeStatus]
    CHARGE_STATUS_APPROVED: _ClassVar[ChargeStatus]
    CHARGE_STATUS_DECLINED: _ClassVar[ChargeStatus]
    CHARGE_STATUS_TIMED_OUT: _ClassVar[ChargeStatus]
    CHARGE_STATUS_REFUNDED: _ClassVar[ChargeStatus]
DECLINE_REASON_UNSPECIFIED: DeclineReason
DECLINE_REASON_INSUFFICIENT_FUNDS: DeclineReason
DECLINE_REASON_CARD_FLAGGED: DeclineReason
DECLINE_REASON_UNKNOWN_ACCOUNT: DeclineReason
DECLINE_REASON_CURRENCY_MISMATCH: DeclineReason
DECLINE_REASON_DEADLINE_PASSED: DeclineReason
DECLINE_REASON_INVALID_TOKEN: DeclineReason
DECLINE_REASON_INVALID_AMOUNT: DeclineReason
CHARGE_STATUS_UNSPECIFIED: ChargeStatus
CHARGE_STATUS_APPROVED: ChargeStatus
CHARGE_STATUS_DECLINED: ChargeStatus
CHARGE_STATUS_TIMED_OUT: ChargeStatus
CHARGE_STATUS_REFUNDED: ChargeStatus
