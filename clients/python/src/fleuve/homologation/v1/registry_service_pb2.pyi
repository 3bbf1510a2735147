import datetime

from fleuve.homologation.v1 import types_pb2 as _types_pb2
from fleuve.identity.v1 import identity_pb2 as _identity_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetSealKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSealKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[_identity_pb2.Jwk]
    def __init__(self, keys: _Optional[_Iterable[_Union[_identity_pb2.Jwk, _Mapping]]] = ...) -> None: ...

class PublicCertificate(_message.Message):
    __slots__ = ("certificate_number", "brand", "model", "category", "status", "valid_from", "valid_until", "holder_organisation_id")
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    BRAND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    HOLDER_ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    certificate_number: str
    brand: str
    model: str
    category: _types_pb2.EquipmentCategory
    status: _types_pb2.CertificateStatus
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    holder_organisation_id: str
    def __init__(self, certificate_number: _Optional[str] = ..., brand: _Optional[str] = ..., model: _Optional[str] = ..., category: _Optional[_Union[_types_pb2.EquipmentCategory, str]] = ..., status: _Optional[_Union[_types_pb2.CertificateStatus, str]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., holder_organisation_id: _Optional[str] = ...) -> None: ...

class VerifyCertificateRequest(_message.Message):
    __slots__ = ("certificate_number",)
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    certificate_number: str
    def __init__(self, certificate_number: _Optional[str] = ...) -> None: ...

class VerifyCertificateResponse(_message.Message):
    __slots__ = ("certificate", "valid")
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    certificate: PublicCertificate
    valid: bool
    def __init__(self, certificate: _Optional[_Union[PublicCertificate, _Mapping]] = ..., valid: _Optional[bool] = ...) -> None: ...

class SearchCertificatesRequest(_message.Message):
    __slots__ = ("brand", "model", "page_size", "page_token")
    BRAND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    brand: str
    model: str
    page_size: int
    page_token: str
    def __init__(self, brand: _Optional[str] = ..., model: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchCertificatesResponse(_message.Message):
    __slots__ = ("certificates", "next_page_token")
    CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    certificates: _containers.RepeatedCompositeFieldContainer[PublicCertificate]
    next_page_token: str
    def __init__(self, certificates: _Optional[_Iterable[_Union[PublicCertificate, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
