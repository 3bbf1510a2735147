from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class SuspendCertificateRequest(_message.Message):
    __slots__ = ("certificate_number", "expected_version", "reason")
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    certificate_number: str
    expected_version: int
    reason: str
    def __init__(self, certificate_number: _Optional[str] = ..., expected_version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class SuspendCertificateResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class ReinstateCertificateRequest(_message.Message):
    __slots__ = ("certificate_number", "expected_version", "note")
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    certificate_number: str
    expected_version: int
    note: str
    def __init__(self, certificate_number: _Optional[str] = ..., expected_version: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class ReinstateCertificateResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class RevokeCertificateRequest(_message.Message):
    __slots__ = ("certificate_number", "expected_version", "reason")
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    certificate_number: str
    expected_version: int
    reason: str
    def __init__(self, certificate_number: _Optional[str] = ..., expected_version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeCertificateResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class RenewCertificateRequest(_message.Message):
    __slots__ = ("certificate_number", "expected_version", "validity_years")
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_YEARS_FIELD_NUMBER: _ClassVar[int]
    certificate_number: str
    expected_version: int
    validity_years: int
    def __init__(self, certificate_number: _Optional[str] = ..., expected_version: _Optional[int] = ..., validity_years: _Optional[int] = ...) -> None: ...

class RenewCertificateResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class ExpireCertificateRequest(_message.Message):
    __slots__ = ("certificate_number", "expected_version")
    CERTIFICATE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    certificate_number: str
    expected_version: int
    def __init__(self, certificate_number: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class ExpireCertificateResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...
