import datetime

from fleuve.homologation.v1 import types_pb2 as _types_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DossierEvent(_message.Message):
    __slots__ = ("occurred_at", "created", "document_attached", "submitted", "declared_incomplete", "completed", "fee_invoiced", "payment_recorded", "reviewer_assigned", "test_report_recorded", "foreign_certificate_recognized", "technical_opinion_given", "approved", "rejected", "withdrawn")
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ATTACHED_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    DECLARED_INCOMPLETE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FEE_INVOICED_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_RECORDED_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_ASSIGNED_FIELD_NUMBER: _ClassVar[int]
    TEST_REPORT_RECORDED_FIELD_NUMBER: _ClassVar[int]
    FOREIGN_CERTIFICATE_RECOGNIZED_FIELD_NUMBER: _ClassVar[int]
    TECHNICAL_OPINION_GIVEN_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    occurred_at: _timestamp_pb2.Timestamp
    created: DossierCreated
    document_attached: DocumentAttached
    submitted: DossierSubmitted
    declared_incomplete: DossierDeclaredIncomplete
    completed: DossierCompleted
    fee_invoiced: FeeInvoiced
    payment_recorded: PaymentRecorded
    reviewer_assigned: ReviewerAssigned
    test_report_recorded: TestReportRecorded
    foreign_certificate_recognized: ForeignCertificateRecognized
    technical_opinion_given: TechnicalOpinionGiven
    approved: DossierApproved
    rejected: DossierRejected
    withdrawn: DossierWithdrawn
    def __init__(self, occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created: _Optional[_Union[DossierCreated, _Mapping]] = ..., document_attached: _Optional[_Union[DocumentAttached, _Mapping]] = ..., submitted: _Optional[_Union[DossierSubmitted, _Mapping]] = ..., declared_incomplete: _Optional[_Union[DossierDeclaredIncomplete, _Mapping]] = ..., completed: _Optional[_Union[DossierCompleted, _Mapping]] = ..., fee_invoiced: _Optional[_Union[FeeInvoiced, _Mapping]] = ..., payment_recorded: _Optional[_Union[PaymentRecorded, _Mapping]] = ..., reviewer_assigned: _Optional[_Union[ReviewerAssigned, _Mapping]] = ..., test_report_recorded: _Optional[_Union[TestReportRecorded, _Mapping]] = ..., foreign_certificate_recognized: _Optional[_Union[ForeignCertificateRecognized, _Mapping]] = ..., technical_opinion_given: _Optional[_Union[TechnicalOpinionGiven, _Mapping]] = ..., approved: _Optional[_Union[DossierApproved, _Mapping]] = ..., rejected: _Optional[_Union[DossierRejected, _Mapping]] = ..., withdrawn: _Optional[_Union[DossierWithdrawn, _Mapping]] = ...) -> None: ...

class DossierCreated(_message.Message):
    __slots__ = ("dossier_id", "organisation_id", "applicant_id", "equipment")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_ID_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    organisation_id: str
    applicant_id: str
    equipment: _types_pb2.Equipment
    def __init__(self, dossier_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., applicant_id: _Optional[str] = ..., equipment: _Optional[_Union[_types_pb2.Equipment, _Mapping]] = ...) -> None: ...

class DocumentAttached(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: _types_pb2.Document
    def __init__(self, document: _Optional[_Union[_types_pb2.Document, _Mapping]] = ...) -> None: ...

class DossierSubmitted(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DossierDeclaredIncomplete(_message.Message):
    __slots__ = ("reason", "missing_documents", "reviewer_id")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MISSING_DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    reason: str
    missing_documents: _containers.RepeatedScalarFieldContainer[_types_pb2.DocumentKind]
    reviewer_id: str
    def __init__(self, reason: _Optional[str] = ..., missing_documents: _Optional[_Iterable[_Union[_types_pb2.DocumentKind, str]]] = ..., reviewer_id: _Optional[str] = ...) -> None: ...

class DossierCompleted(_message.Message):
    __slots__ = ("note",)
    NOTE_FIELD_NUMBER: _ClassVar[int]
    note: str
    def __init__(self, note: _Optional[str] = ...) -> None: ...

class FeeInvoiced(_message.Message):
    __slots__ = ("invoice",)
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    invoice: _types_pb2.Invoice
    def __init__(self, invoice: _Optional[_Union[_types_pb2.Invoice, _Mapping]] = ...) -> None: ...

class PaymentRecorded(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: _types_pb2.Payment
    def __init__(self, payment: _Optional[_Union[_types_pb2.Payment, _Mapping]] = ...) -> None: ...

class ReviewerAssigned(_message.Message):
    __slots__ = ("reviewer_id",)
    REVIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    reviewer_id: str
    def __init__(self, reviewer_id: _Optional[str] = ...) -> None: ...

class TestReportRecorded(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: _types_pb2.TestReport
    def __init__(self, report: _Optional[_Union[_types_pb2.TestReport, _Mapping]] = ...) -> None: ...

class ForeignCertificateRecognized(_message.Message):
    __slots__ = ("certificate",)
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    certificate: _types_pb2.ForeignCertificate
    def __init__(self, certificate: _Optional[_Union[_types_pb2.ForeignCertificate, _Mapping]] = ...) -> None: ...

class TechnicalOpinionGiven(_message.Message):
    __slots__ = ("opinion",)
    OPINION_FIELD_NUMBER: _ClassVar[int]
    opinion: _types_pb2.TechnicalOpinion
    def __init__(self, opinion: _Optional[_Union[_types_pb2.TechnicalOpinion, _Mapping]] = ...) -> None: ...

class DossierApproved(_message.Message):
    __slots__ = ("certificate_number", "valid_from", "valid_until", "decided_by")
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    certificate_number: str
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    decided_by: str
    def __init__(self, certificate_number: _Optional[str] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_by: _Optional[str] = ...) -> None: ...

class DossierRejected(_message.Message):
    __slots__ = ("reasons", "decided_by")
    REASONS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    reasons: _containers.RepeatedScalarFieldContainer[str]
    decided_by: str
    def __init__(self, reasons: _Optional[_Iterable[str]] = ..., decided_by: _Optional[str] = ...) -> None: ...

class DossierWithdrawn(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class CertificateEvent(_message.Message):
    __slots__ = ("occurred_at", "issued", "suspended", "reinstated", "revoked", "renewed", "expired")
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    ISSUED_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    REINSTATED_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    RENEWED_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    occurred_at: _timestamp_pb2.Timestamp
    issued: CertificateIssued
    suspended: CertificateSuspended
    reinstated: CertificateReinstated
    revoked: CertificateRevoked
    renewed: CertificateRenewed
    expired: CertificateExpired
    def __init__(self, occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., issued: _Optional[_Union[CertificateIssued, _Mapping]] = ..., suspended: _Optional[_Union[CertificateSuspended, _Mapping]] = ..., reinstated: _Optional[_Union[CertificateReinstated, _Mapping]] = ..., revoked: _Optional[_Union[CertificateRevoked, _Mapping]] = ..., renewed: _Optional[_Union[CertificateRenewed, _Mapping]] = ..., expired: _Optional[_Union[CertificateExpired, _Mapping]] = ...) -> None: ...

class CertificateIssued(_message.Message):
    __slots__ = ("certificate_number", "dossier_id", "organisation_id", "equipment", "valid_from", "valid_until")
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    certificate_number: str
    dossier_id: str
    organisation_id: str
    equipment: _types_pb2.Equipment
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    def __init__(self, certificate_number: _Optional[str] = ..., dossier_id: _Optional[str] = ..., organisation_id: _Optional[str] = ..., equipment: _Optional[_Union[_types_pb2.Equipment, _Mapping]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CertificateSuspended(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class CertificateReinstated(_message.Message):
    __slots__ = ("note",)
    NOTE_FIELD_NUMBER: _ClassVar[int]
    note: str
    def __init__(self, note: _Optional[str] = ...) -> None: ...

class CertificateRevoked(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class CertificateRenewed(_message.Message):
    __slots__ = ("valid_until",)
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    valid_until: _timestamp_pb2.Timestamp
    def __init__(self, valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CertificateExpired(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
