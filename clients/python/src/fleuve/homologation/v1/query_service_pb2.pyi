import datetime

from fleuve.common.v1 import common_pb2 as _common_pb2
from fleuve.homologation.v1 import events_pb2 as _events_pb2
from fleuve.homologation.v1 import types_pb2 as _types_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Dossier(_message.Message):
    __slots__ = ("dossier_id", "organisation_id", "applicant_id", "equipment", "status", "payment_status", "documents", "invoice", "payment", "reviewer_id", "incomplete_reason", "test_reports", "foreign_certificates", "technical_opinion", "certificate_number", "rejection_reasons", "created_at", "submitted_at", "decided_at", "version")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_ID_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_STATUS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_REASON_FIELD_NUMBER: _ClassVar[int]
    TEST_REPORTS_FIELD_NUMBER: _ClassVar[int]
    FOREIGN_CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    TECHNICAL_OPINION_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REJECTION_REASONS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    organisation_id: str
    applicant_id: str
    equipment: _types_pb2.Equipment
    status: _types_pb2.DossierStatus
    payment_status: _types_pb2.PaymentStatus
    documents: _containers.RepeatedCompositeFieldContainer[_types_pb2.Document]
    invoice: _types_pb2.Invoice
    payment: _types_pb2.Payment
    reviewer_id: str
    incomplete_reason: str
    test_reports: _containers.RepeatedCompositeFieldContainer[_types_pb2.TestReport]
    foreign_certificates: _containers.RepeatedCompositeFieldContainer[_types_pb2.ForeignCertificate]
    technical_opinion: _types_pb2.TechnicalOpinion
    certificate_number: str
    rejection_reasons: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    submitted_at: _timestamp_pb2.Timestamp
    decided_at: _timestamp_pb2.Timestamp
    version: int
    def __init__(self, dossier_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., applicant_id: _Optional[str] = ..., equipment: _Optional[_Union[_types_pb2.Equipment, _Mapping]] = ..., status: _Optional[_Union[_types_pb2.DossierStatus, str]] = ..., payment_status: _Optional[_Union[_types_pb2.PaymentStatus, str]] = ..., documents: _Optional[_Iterable[_Union[_types_pb2.Document, _Mapping]]] = ..., invoice: _Optional[_Union[_types_pb2.Invoice, _Mapping]] = ..., payment: _Optional[_Union[_types_pb2.Payment, _Mapping]] = ..., reviewer_id: _Optional[str] = ..., incomplete_reason: _Optional[str] = ..., test_reports: _Optional[_Iterable[_Union[_types_pb2.TestReport, _Mapping]]] = ..., foreign_certificates: _Optional[_Iterable[_Union[_types_pb2.ForeignCertificate, _Mapping]]] = ..., technical_opinion: _Optional[_Union[_types_pb2.TechnicalOpinion, _Mapping]] = ..., certificate_number: _Optional[str] = ..., rejection_reasons: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., submitted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class Certificate(_message.Message):
    __slots__ = ("certificate_number", "dossier_id", "organisation_id", "equipment", "status", "valid_from", "valid_until", "status_reason", "version")
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    certificate_number: str
    dossier_id: str
    organisation_id: str
    equipment: _types_pb2.Equipment
    status: _types_pb2.CertificateStatus
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    status_reason: str
    version: int
    def __init__(self, certificate_number: _Optional[str] = ..., dossier_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., equipment: _Optional[_Union[_types_pb2.Equipment, _Mapping]] = ..., status: _Optional[_Union[_types_pb2.CertificateStatus, str]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status_reason: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetDossierRequest(_message.Message):
    __slots__ = ("dossier_id",)
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    def __init__(self, dossier_id: _Optional[str] = ...) -> None: ...

class GetDocumentContentRequest(_message.Message):
    __slots__ = ("dossier_id", "document_id")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    document_id: str
    def __init__(self, dossier_id: _Optional[str] = ..., document_id: _Optional[str] = ...) -> None: ...

class GetDocumentContentResponse(_message.Message):
    __slots__ = ("file_name", "media_type", "sha256", "content")
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    file_name: str
    media_type: str
    sha256: str
    content: bytes
    def __init__(self, file_name: _Optional[str] = ..., media_type: _Optional[str] = ..., sha256: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class GetCertificateSealRequest(_message.Message):
    __slots__ = ("certificate_number",)
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    certificate_number: str
    def __init__(self, certificate_number: _Optional[str] = ...) -> None: ...

class GetCertificateSealResponse(_message.Message):
    __slots__ = ("seal", "key_id")
    SEAL_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    seal: str
    key_id: str
    def __init__(self, seal: _Optional[str] = ..., key_id: _Optional[str] = ...) -> None: ...

class GetDossierResponse(_message.Message):
    __slots__ = ("dossier",)
    DOSSIER_FIELD_NUMBER: _ClassVar[int]
    dossier: Dossier
    def __init__(self, dossier: _Optional[_Union[Dossier, _Mapping]] = ...) -> None: ...

class ListDossiersRequest(_message.Message):
    __slots__ = ("status", "organisation_id", "page_size", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: _types_pb2.DossierStatus
    organisation_id: str
    page_size: int
    page_token: str
    def __init__(self, status: _Optional[_Union[_types_pb2.DossierStatus, str]] = ..., organisation_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDossiersResponse(_message.Message):
    __slots__ = ("dossiers", "next_page_token")
    DOSSIERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dossiers: _containers.RepeatedCompositeFieldContainer[Dossier]
    next_page_token: str
    def __init__(self, dossiers: _Optional[_Iterable[_Union[Dossier, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetReviewerQueueRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetReviewerQueueResponse(_message.Message):
    __slots__ = ("dossiers", "next_page_token")
    DOSSIERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dossiers: _containers.RepeatedCompositeFieldContainer[Dossier]
    next_page_token: str
    def __init__(self, dossiers: _Optional[_Iterable[_Union[Dossier, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetDossierHistoryRequest(_message.Message):
    __slots__ = ("dossier_id",)
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    def __init__(self, dossier_id: _Optional[str] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("metadata", "event")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    metadata: _common_pb2.EventMetadata
    event: _events_pb2.DossierEvent
    def __init__(self, metadata: _Optional[_Union[_common_pb2.EventMetadata, _Mapping]] = ..., event: _Optional[_Union[_events_pb2.DossierEvent, _Mapping]] = ...) -> None: ...

class GetDossierHistoryResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ...) -> None: ...

class GetCertificateRequest(_message.Message):
    __slots__ = ("certificate_number",)
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    certificate_number: str
    def __init__(self, certificate_number: _Optional[str] = ...) -> None: ...

class GetCertificateResponse(_message.Message):
    __slots__ = ("certificate",)
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    certificate: Certificate
    def __init__(self, certificate: _Optional[_Union[Certificate, _Mapping]] = ...) -> None: ...
