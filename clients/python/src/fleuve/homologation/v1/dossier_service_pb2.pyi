from fleuve.common.v1 import common_pb2 as _common_pb2
from fleuve.homologation.v1 import types_pb2 as _types_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateDossierRequest(_message.Message):
    __slots__ = ("equipment",)
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    equipment: _types_pb2.Equipment
    def __init__(self, equipment: _Optional[_Union[_types_pb2.Equipment, _Mapping]] = ...) -> None: ...

class CreateDossierResponse(_message.Message):
    __slots__ = ("dossier_id", "version")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    version: int
    def __init__(self, dossier_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class AttachDocumentRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version", "kind", "file_name", "media_type", "size_bytes", "sha256", "storage_uri", "laboratory", "standards")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    STORAGE_URI_FIELD_NUMBER: _ClassVar[int]
    LABORATORY_FIELD_NUMBER: _ClassVar[int]
    STANDARDS_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    kind: _types_pb2.DocumentKind
    file_name: str
    media_type: str
    size_bytes: int
    sha256: str
    storage_uri: str
    laboratory: str
    standards: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., kind: _Optional[_Union[_types_pb2.DocumentKind, str]] = ..., file_name: _Optional[str] = ..., media_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., storage_uri: _Optional[str] = ..., laboratory: _Optional[str] = ..., standards: _Optional[_Iterable[str]] = ...) -> None: ...

class AttachDocumentResponse(_message.Message):
    __slots__ = ("document_id", "version")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    version: int
    def __init__(self, document_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class UploadDocumentRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version", "kind", "file_name", "media_type", "sha256", "content", "laboratory", "standards")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    LABORATORY_FIELD_NUMBER: _ClassVar[int]
    STANDARDS_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    kind: _types_pb2.DocumentKind
    file_name: str
    media_type: str
    sha256: str
    content: bytes
    laboratory: str
    standards: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., kind: _Optional[_Union[_types_pb2.DocumentKind, str]] = ..., file_name: _Optional[str] = ..., media_type: _Optional[str] = ..., sha256: _Optional[str] = ..., content: _Optional[bytes] = ..., laboratory: _Optional[str] = ..., standards: _Optional[_Iterable[str]] = ...) -> None: ...

class UploadDocumentResponse(_message.Message):
    __slots__ = ("document", "version")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    document: _types_pb2.Document
    version: int
    def __init__(self, document: _Optional[_Union[_types_pb2.Document, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class SubmitDossierRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class SubmitDossierResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class DeclareIncompleteRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version", "reason", "missing_documents")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MISSING_DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    reason: str
    missing_documents: _containers.RepeatedScalarFieldContainer[_types_pb2.DocumentKind]
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., reason: _Optional[str] = ..., missing_documents: _Optional[_Iterable[_Union[_types_pb2.DocumentKind, str]]] = ...) -> None: ...

class DeclareIncompleteResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class CompleteDossierRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version", "note")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    note: str
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class CompleteDossierResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class InvoiceFeeRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class InvoiceFeeResponse(_message.Message):
    __slots__ = ("invoice", "version")
    INVOICE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    invoice: _types_pb2.Invoice
    version: int
    def __init__(self, invoice: _Optional[_Union[_types_pb2.Invoice, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class RecordPaymentRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version", "payment_reference", "amount")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    payment_reference: str
    amount: _common_pb2.Money
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., payment_reference: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ...) -> None: ...

class RecordPaymentResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class AssignReviewerRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version", "reviewer_id")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    reviewer_id: str
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., reviewer_id: _Optional[str] = ...) -> None: ...

class AssignReviewerResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class RecordTestReportRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version", "laboratory", "report_number", "standards", "passed")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    LABORATORY_FIELD_NUMBER: _ClassVar[int]
    REPORT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    STANDARDS_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    laboratory: str
    report_number: str
    standards: _containers.RepeatedScalarFieldContainer[str]
    passed: bool
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., laboratory: _Optional[str] = ..., report_number: _Optional[str] = ..., standards: _Optional[_Iterable[str]] = ..., passed: _Optional[bool] = ...) -> None: ...

class RecordTestReportResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class RecognizeForeignCertificateRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version", "scheme", "reference", "issuer")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    scheme: _types_pb2.ForeignScheme
    reference: str
    issuer: str
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., scheme: _Optional[_Union[_types_pb2.ForeignScheme, str]] = ..., reference: _Optional[str] = ..., issuer: _Optional[str] = ...) -> None: ...

class RecognizeForeignCertificateResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class GiveTechnicalOpinionRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version", "favorable", "comments")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    FAVORABLE_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    favorable: bool
    comments: str
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., favorable: _Optional[bool] = ..., comments: _Optional[str] = ...) -> None: ...

class GiveTechnicalOpinionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class ApproveDossierRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version", "validity_years")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_YEARS_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    validity_years: int
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., validity_years: _Optional[int] = ...) -> None: ...

class ApproveDossierResponse(_message.Message):
    __slots__ = ("certificate_number", "version")
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    certificate_number: str
    version: int
    def __init__(self, certificate_number: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class RejectDossierRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version", "reasons")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class RejectDossierResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class WithdrawDossierRequest(_message.Message):
    __slots__ = ("dossier_id", "expected_version", "reason")
    DOSSIER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    dossier_id: str
    expected_version: int
    reason: str
    def __init__(self, dossier_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class WithdrawDossierResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...
