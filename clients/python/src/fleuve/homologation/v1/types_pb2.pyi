import datetime

from fleuve.common.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EquipmentCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EQUIPMENT_CATEGORY_UNSPECIFIED: _ClassVar[EquipmentCategory]
    EQUIPMENT_CATEGORY_MOBILE_TERMINAL: _ClassVar[EquipmentCategory]
    EQUIPMENT_CATEGORY_RADIO_EQUIPMENT: _ClassVar[EquipmentCategory]
    EQUIPMENT_CATEGORY_NETWORK_EQUIPMENT: _ClassVar[EquipmentCategory]
    EQUIPMENT_CATEGORY_SATELLITE_TERMINAL: _ClassVar[EquipmentCategory]

class DocumentKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_KIND_UNSPECIFIED: _ClassVar[DocumentKind]
    DOCUMENT_KIND_TECHNICAL_DATASHEET: _ClassVar[DocumentKind]
    DOCUMENT_KIND_TEST_REPORT: _ClassVar[DocumentKind]
    DOCUMENT_KIND_DECLARATION_OF_CONFORMITY: _ClassVar[DocumentKind]
    DOCUMENT_KIND_PHOTOS: _ClassVar[DocumentKind]
    DOCUMENT_KIND_USER_MANUAL: _ClassVar[DocumentKind]
    DOCUMENT_KIND_TRADE_REGISTER_EXTRACT: _ClassVar[DocumentKind]

class DossierStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOSSIER_STATUS_UNSPECIFIED: _ClassVar[DossierStatus]
    DOSSIER_STATUS_DRAFT: _ClassVar[DossierStatus]
    DOSSIER_STATUS_SUBMITTED: _ClassVar[DossierStatus]
    DOSSIER_STATUS_INCOMPLETE: _ClassVar[DossierStatus]
    DOSSIER_STATUS_UNDER_REVIEW: _ClassVar[DossierStatus]
    DOSSIER_STATUS_APPROVED: _ClassVar[DossierStatus]
    DOSSIER_STATUS_REJECTED: _ClassVar[DossierStatus]
    DOSSIER_STATUS_WITHDRAWN: _ClassVar[DossierStatus]

class PaymentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_STATUS_UNSPECIFIED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_NOT_INVOICED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_INVOICED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_PAID: _ClassVar[PaymentStatus]

class CertificateStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CERTIFICATE_STATUS_UNSPECIFIED: _ClassVar[CertificateStatus]
    CERTIFICATE_STATUS_ACTIVE: _ClassVar[CertificateStatus]
    CERTIFICATE_STATUS_SUSPENDED: _ClassVar[CertificateStatus]
    CERTIFICATE_STATUS_REVOKED: _ClassVar[CertificateStatus]
    CERTIFICATE_STATUS_EXPIRED: _ClassVar[CertificateStatus]

class ForeignScheme(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FOREIGN_SCHEME_UNSPECIFIED: _ClassVar[ForeignScheme]
    FOREIGN_SCHEME_FCC: _ClassVar[ForeignScheme]
    FOREIGN_SCHEME_CE: _ClassVar[ForeignScheme]
EQUIPMENT_CATEGORY_UNSPECIFIED: EquipmentCategory
EQUIPMENT_CATEGORY_MOBILE_TERMINAL: EquipmentCategory
EQUIPMENT_CATEGORY_RADIO_EQUIPMENT: EquipmentCategory
EQUIPMENT_CATEGORY_NETWORK_EQUIPMENT: EquipmentCategory
EQUIPMENT_CATEGORY_SATELLITE_TERMINAL: EquipmentCategory
DOCUMENT_KIND_UNSPECIFIED: DocumentKind
DOCUMENT_KIND_TECHNICAL_DATASHEET: DocumentKind
DOCUMENT_KIND_TEST_REPORT: DocumentKind
DOCUMENT_KIND_DECLARATION_OF_CONFORMITY: DocumentKind
DOCUMENT_KIND_PHOTOS: DocumentKind
DOCUMENT_KIND_USER_MANUAL: DocumentKind
DOCUMENT_KIND_TRADE_REGISTER_EXTRACT: DocumentKind
DOSSIER_STATUS_UNSPECIFIED: DossierStatus
DOSSIER_STATUS_DRAFT: DossierStatus
DOSSIER_STATUS_SUBMITTED: DossierStatus
DOSSIER_STATUS_INCOMPLETE: DossierStatus
DOSSIER_STATUS_UNDER_REVIEW: DossierStatus
DOSSIER_STATUS_APPROVED: DossierStatus
DOSSIER_STATUS_REJECTED: DossierStatus
DOSSIER_STATUS_WITHDRAWN: DossierStatus
PAYMENT_STATUS_UNSPECIFIED: PaymentStatus
PAYMENT_STATUS_NOT_INVOICED: PaymentStatus
PAYMENT_STATUS_INVOICED: PaymentStatus
PAYMENT_STATUS_PAID: PaymentStatus
CERTIFICATE_STATUS_UNSPECIFIED: CertificateStatus
CERTIFICATE_STATUS_ACTIVE: CertificateStatus
CERTIFICATE_STATUS_SUSPENDED: CertificateStatus
CERTIFICATE_STATUS_REVOKED: CertificateStatus
CERTIFICATE_STATUS_EXPIRED: CertificateStatus
FOREIGN_SCHEME_UNSPECIFIED: ForeignScheme
FOREIGN_SCHEME_FCC: ForeignScheme
FOREIGN_SCHEME_CE: ForeignScheme

class FrequencyBand(_message.Message):
    __slots__ = ("lower_khz", "upper_khz")
    LOWER_KHZ_FIELD_NUMBER: _ClassVar[int]
    UPPER_KHZ_FIELD_NUMBER: _ClassVar[int]
    lower_khz: int
    upper_khz: int
    def __init__(self, lower_khz: _Optional[int] = ..., upper_khz: _Optional[int] = ...) -> None: ...

class Characteristic(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class Equipment(_message.Message):
    __slots__ = ("brand", "model", "category", "frequency_bands", "characteristics")
    BRAND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_BANDS_FIELD_NUMBER: _ClassVar[int]
    CHARACTERISTICS_FIELD_NUMBER: _ClassVar[int]
    brand: str
    model: str
    category: EquipmentCategory
    frequency_bands: _containers.RepeatedCompositeFieldContainer[FrequencyBand]
    characteristics: _containers.RepeatedCompositeFieldContainer[Characteristic]
    def __init__(self, brand: _Optional[str] = ..., model: _Optional[str] = ..., category: _Optional[_Union[EquipmentCategory, str]] = ..., frequency_bands: _Optional[_Iterable[_Union[FrequencyBand, _Mapping]]] = ..., characteristics: _Optional[_Iterable[_Union[Characteristic, _Mapping]]] = ...) -> None: ...

class Document(_message.Message):
    __slots__ = ("document_id", "kind", "file_name", "media_type", "size_bytes", "sha256", "storage_uri", "laboratory", "standards", "attached_at")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    STORAGE_URI_FIELD_NUMBER: _ClassVar[int]
    LABORATORY_FIELD_NUMBER: _ClassVar[int]
    STANDARDS_FIELD_NUMBER: _ClassVar[int]
    ATTACHED_AT_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    kind: DocumentKind
    file_name: str
    media_type: str
    size_bytes: int
    sha256: str
    storage_uri: str
    laboratory: str
    standards: _containers.RepeatedScalarFieldContainer[str]
    attached_at: _timestamp_pb2.Timestamp
    def __init__(self, document_id: _Optional[str] = ..., kind: _Optional[_Union[DocumentKind, str]] = ..., file_name: _Optional[str] = ..., media_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., storage_uri: _Optional[str] = ..., laboratory: _Optional[str] = ..., standards: _Optional[_Iterable[str]] = ..., attached_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TestReport(_message.Message):
    __slots__ = ("laboratory", "report_number", "standards", "passed", "reviewer_id")
    LABORATORY_FIELD_NUMBER: _ClassVar[int]
    REPORT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    STANDARDS_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    laboratory: str
    report_number: str
    standards: _containers.RepeatedScalarFieldContainer[str]
    passed: bool
    reviewer_id: str
    def __init__(self, laboratory: _Optional[str] = ..., report_number: _Optional[str] = ..., standards: _Optional[_Iterable[str]] = ..., passed: _Optional[bool] = ..., reviewer_id: _Optional[str] = ...) -> None: ...

class ForeignCertificate(_message.Message):
    __slots__ = ("scheme", "reference", "issuer", "reviewer_id")
    SCHEME_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    scheme: ForeignScheme
    reference: str
    issuer: str
    reviewer_id: str
    def __init__(self, scheme: _Optional[_Union[ForeignScheme, str]] = ..., reference: _Optional[str] = ..., issuer: _Optional[str] = ..., reviewer_id: _Optional[str] = ...) -> None: ...

class TechnicalOpinion(_message.Message):
    __slots__ = ("favorable", "comments", "reviewer_id")
    FAVORABLE_FIELD_NUMBER: _ClassVar[int]
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    favorable: bool
    comments: str
    reviewer_id: str
    def __init__(self, favorable: _Optional[bool] = ..., comments: _Optional[str] = ..., reviewer_id: _Optional[str] = ...) -> None: ...

class Invoice(_message.Message):
    __slots__ = ("invoice_number", "amount", "issued_at")
    INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    invoice_number: str
    amount: _common_pb2.Money
    issued_at: _timestamp_pb2.Timestamp
    def __init__(self, invoice_number: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Payment(_message.Message):
    __slots__ = ("reference", "amount", "paid_at")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PAID_AT_FIELD_NUMBER: _ClassVar[int]
    reference: str
    amount: _common_pb2.Money
    paid_at: _timestamp_pb2.Timestamp
    def __init__(self, reference: _Optional[str] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., paid_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
