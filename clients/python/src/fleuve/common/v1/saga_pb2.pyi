from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SagaStepKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAGA_STEP_KIND_UNSPECIFIED: _ClassVar[SagaStepKind]
    SAGA_STEP_KIND_STOCK_CHECK: _ClassVar[SagaStepKind]
    SAGA_STEP_KIND_PAYMENT: _ClassVar[SagaStepKind]
    SAGA_STEP_KIND_STOCK_RELEASE: _ClassVar[SagaStepKind]
    SAGA_STEP_KIND_PAYMENT_REFUND: _ClassVar[SagaStepKind]
SAGA_STEP_KIND_UNSPECIFIED: SagaStepKind
SAGA_STEP_KIND_STOCK_CHECK: SagaStepKind
SAGA_STEP_KIND_PAYMENT: SagaStepKind
SAGA_STEP_KIND_STOCK_RELEASE: SagaStepKind
SAGA_STEP_KIND_PAYMENT_REFUND: SagaStepKind

class SagaStep(_message.Message):
    __slots__ = ("saga_id", "kind", "attempt")
    SAGA_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    saga_id: str
    kind: SagaStepKind
    attempt: int
    def __init__(self, saga_id: _Optional[str] = ..., kind: _Optional[_Union[SagaStepKind, str]] = ..., attempt: _Optional[int] = ...) -> None: ...
