import datetime

from fleuve.common.v1 import common_pb2 as _common_pb2
from fleuve.homologation.v1 import types_pb2 as _types_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Period(_message.Message):
    __slots__ = ("start_time", "end_time")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetStatisticsRequest(_message.Message):
    __slots__ = ("period", "max_rejection_causes")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    MAX_REJECTION_CAUSES_FIELD_NUMBER: _ClassVar[int]
    period: Period
    max_rejection_causes: int
    def __init__(self, period: _Optional[_Union[Period, _Mapping]] = ..., max_rejection_causes: _Optional[int] = ...) -> None: ...

class GetStatisticsResponse(_message.Message):
    __slots__ = ("as_of", "dossiers", "processing", "decisions", "fees")
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    DOSSIERS_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    FEES_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    dossiers: DossierCounts
    processing: ProcessingTimes
    decisions: Decisions
    fees: _containers.RepeatedCompositeFieldContainer[FeeTotals]
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dossiers: _Optional[_Union[DossierCounts, _Mapping]] = ..., processing: _Optional[_Union[ProcessingTimes, _Mapping]] = ..., decisions: _Optional[_Union[Decisions, _Mapping]] = ..., fees: _Optional[_Iterable[_Union[FeeTotals, _Mapping]]] = ...) -> None: ...

class DossierCounts(_message.Message):
    __slots__ = ("total", "by_status", "by_category", "by_month")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    BY_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    BY_MONTH_FIELD_NUMBER: _ClassVar[int]
    total: int
    by_status: _containers.RepeatedCompositeFieldContainer[StatusCount]
    by_category: _containers.RepeatedCompositeFieldContainer[CategoryCount]
    by_month: _containers.RepeatedCompositeFieldContainer[MonthCount]
    def __init__(self, total: _Optional[int] = ..., by_status: _Optional[_Iterable[_Union[StatusCount, _Mapping]]] = ..., by_category: _Optional[_Iterable[_Union[CategoryCount, _Mapping]]] = ..., by_month: _Optional[_Iterable[_Union[MonthCount, _Mapping]]] = ...) -> None: ...

class StatusCount(_message.Message):
    __slots__ = ("status", "count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    status: _types_pb2.DossierStatus
    count: int
    def __init__(self, status: _Optional[_Union[_types_pb2.DossierStatus, str]] = ..., count: _Optional[int] = ...) -> None: ...

class CategoryCount(_message.Message):
    __slots__ = ("category", "count")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    category: _types_pb2.EquipmentCategory
    count: int
    def __init__(self, category: _Optional[_Union[_types_pb2.EquipmentCategory, str]] = ..., count: _Optional[int] = ...) -> None: ...

class MonthCount(_message.Message):
    __slots__ = ("year", "month", "count")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    year: int
    month: int
    count: int
    def __init__(self, year: _Optional[int] = ..., month: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class ProcessingTimes(_message.Message):
    __slots__ = ("legal_deadline_days", "decided", "average_days", "p90_days", "decided_within_deadline", "decided_beyond_deadline", "open", "open_beyond_deadline")
    LEGAL_DEADLINE_DAYS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    P90_DAYS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_WITHIN_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BEYOND_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    OPEN_BEYOND_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    legal_deadline_days: int
    decided: int
    average_days: float
    p90_days: float
    decided_within_deadline: int
    decided_beyond_deadline: int
    open: int
    open_beyond_deadline: int
    def __init__(self, legal_deadline_days: _Optional[int] = ..., decided: _Optional[int] = ..., average_days: _Optional[float] = ..., p90_days: _Optional[float] = ..., decided_within_deadline: _Optional[int] = ..., decided_beyond_deadline: _Optional[int] = ..., open: _Optional[int] = ..., open_beyond_deadline: _Optional[int] = ...) -> None: ...

class Decisions(_message.Message):
    __slots__ = ("approved", "rejected", "withdrawn", "approval_rate", "rejection_rate", "rejection_causes", "distinct_rejection_causes")
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_RATE_FIELD_NUMBER: _ClassVar[int]
    REJECTION_RATE_FIELD_NUMBER: _ClassVar[int]
    REJECTION_CAUSES_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_REJECTION_CAUSES_FIELD_NUMBER: _ClassVar[int]
    approved: int
    rejected: int
    withdrawn: int
    approval_rate: float
    rejection_rate: float
    rejection_causes: _containers.RepeatedCompositeFieldContainer[RejectionCause]
    distinct_rejection_causes: int
    def __init__(self, approved: _Optional[int] = ..., rejected: _Optional[int] = ..., withdrawn: _Optional[int] = ..., approval_rate: _Optional[float] = ..., rejection_rate: _Optional[float] = ..., rejection_causes: _Optional[_Iterable[_Union[RejectionCause, _Mapping]]] = ..., distinct_rejection_causes: _Optional[int] = ...) -> None: ...

class RejectionCause(_message.Message):
    __slots__ = ("reason", "count")
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    count: int
    def __init__(self, reason: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class FeeTotals(_message.Message):
    __slots__ = ("currency", "invoices", "payments", "invoiced", "collected", "outstanding")
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    INVOICES_FIELD_NUMBER: _ClassVar[int]
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    INVOICED_FIELD_NUMBER: _ClassVar[int]
    COLLECTED_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    currency: str
    invoices: int
    payments: int
    invoiced: _common_pb2.Money
    collected: _common_pb2.Money
    outstanding: _common_pb2.Money
    def __init__(self, currency: _Optional[str] = ..., invoices: _Optional[int] = ..., payments: _Optional[int] = ..., invoiced: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., collected: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., outstanding: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...
