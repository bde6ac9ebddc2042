from linecode.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LineEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LINE_EVENT_UNSPECIFIED: _ClassVar[LineEventKind]
    LINE_EVENT_PRINTED: _ClassVar[LineEventKind]
    LINE_EVENT_VERIFIED: _ClassVar[LineEventKind]
    LINE_EVENT_VERIFY_FAILED: _ClassVar[LineEventKind]
    LINE_EVENT_SAMPLED: _ClassVar[LineEventKind]
    LINE_EVENT_DESTROYED: _ClassVar[LineEventKind]
    LINE_EVENT_DECOMMISSIONED: _ClassVar[LineEventKind]
LINE_EVENT_UNSPECIFIED: LineEventKind
LINE_EVENT_PRINTED: LineEventKind
LINE_EVENT_VERIFIED: LineEventKind
LINE_EVENT_VERIFY_FAILED: LineEventKind
LINE_EVENT_SAMPLED: LineEventKind
LINE_EVENT_DESTROYED: LineEventKind
LINE_EVENT_DECOMMISSIONED: LineEventKind

class AllocateRequest(_message.Message):
    __slots__ = ("batch_id", "level", "count", "idempotency_key", "origin", "block_size", "packed")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    BLOCK_SIZE_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    level: str
    count: int
    idempotency_key: str
    origin: _common_pb2.Origin
    block_size: int
    packed: bool
    def __init__(self, batch_id: _Optional[str] = ..., level: _Optional[str] = ..., count: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., origin: _Optional[_Union[_common_pb2.Origin, _Mapping]] = ..., block_size: _Optional[int] = ..., packed: _Optional[bool] = ...) -> None: ...

class CodeBlock(_message.Message):
    __slots__ = ("batch_id", "level", "pool", "first_index", "codes", "symbols", "event_seq", "replayed", "count", "packed_codes", "code_width", "packed_symbols", "symbol_width")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    FIRST_INDEX_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    EVENT_SEQ_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    PACKED_CODES_FIELD_NUMBER: _ClassVar[int]
    CODE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    PACKED_SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_WIDTH_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    level: int
    pool: str
    first_index: int
    codes: _containers.RepeatedScalarFieldContainer[str]
    symbols: _containers.RepeatedScalarFieldContainer[str]
    event_seq: int
    replayed: bool
    count: int
    packed_codes: bytes
    code_width: int
    packed_symbols: bytes
    symbol_width: int
    def __init__(self, batch_id: _Optional[str] = ..., level: _Optional[int] = ..., pool: _Optional[str] = ..., first_index: _Optional[int] = ..., codes: _Optional[_Iterable[str]] = ..., symbols: _Optional[_Iterable[str]] = ..., event_seq: _Optional[int] = ..., replayed: _Optional[bool] = ..., count: _Optional[int] = ..., packed_codes: _Optional[bytes] = ..., code_width: _Optional[int] = ..., packed_symbols: _Optional[bytes] = ..., symbol_width: _Optional[int] = ...) -> None: ...

class ReportEventsRequest(_message.Message):
    __slots__ = ("kind", "codes", "time_us", "idempotency_key", "origin", "groups")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    TIME_US_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    kind: LineEventKind
    codes: _containers.RepeatedScalarFieldContainer[str]
    time_us: int
    idempotency_key: str
    origin: _common_pb2.Origin
    groups: _containers.RepeatedCompositeFieldContainer[EventGroup]
    def __init__(self, kind: _Optional[_Union[LineEventKind, str]] = ..., codes: _Optional[_Iterable[str]] = ..., time_us: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., origin: _Optional[_Union[_common_pb2.Origin, _Mapping]] = ..., groups: _Optional[_Iterable[_Union[EventGroup, _Mapping]]] = ...) -> None: ...

class EventGroup(_message.Message):
    __slots__ = ("kind", "codes")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    kind: LineEventKind
    codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kind: _Optional[_Union[LineEventKind, str]] = ..., codes: _Optional[_Iterable[str]] = ...) -> None: ...

class AggregateRequest(_message.Message):
    __slots__ = ("parent", "children", "partial", "time_us", "idempotency_key", "origin")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    TIME_US_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    children: _containers.RepeatedScalarFieldContainer[str]
    partial: bool
    time_us: int
    idempotency_key: str
    origin: _common_pb2.Origin
    def __init__(self, parent: _Optional[str] = ..., children: _Optional[_Iterable[str]] = ..., partial: _Optional[bool] = ..., time_us: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., origin: _Optional[_Union[_common_pb2.Origin, _Mapping]] = ...) -> None: ...

class DisaggregateRequest(_message.Message):
    __slots__ = ("parent", "children", "time_us", "idempotency_key", "origin")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    TIME_US_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    children: _containers.RepeatedScalarFieldContainer[str]
    time_us: int
    idempotency_key: str
    origin: _common_pb2.Origin
    def __init__(self, parent: _Optional[str] = ..., children: _Optional[_Iterable[str]] = ..., time_us: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., origin: _Optional[_Union[_common_pb2.Origin, _Mapping]] = ...) -> None: ...

class ReparentRequest(_message.Message):
    __slots__ = ("new_parent", "children", "partial", "time_us", "idempotency_key", "origin")
    NEW_PARENT_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    TIME_US_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    new_parent: str
    children: _containers.RepeatedScalarFieldContainer[str]
    partial: bool
    time_us: int
    idempotency_key: str
    origin: _common_pb2.Origin
    def __init__(self, new_parent: _Optional[str] = ..., children: _Optional[_Iterable[str]] = ..., partial: _Optional[bool] = ..., time_us: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., origin: _Optional[_Union[_common_pb2.Origin, _Mapping]] = ...) -> None: ...

class ReplaceRequest(_message.Message):
    __slots__ = ("parent", "old_child", "new_child", "time_us", "idempotency_key", "origin")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    OLD_CHILD_FIELD_NUMBER: _ClassVar[int]
    NEW_CHILD_FIELD_NUMBER: _ClassVar[int]
    TIME_US_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    old_child: str
    new_child: str
    time_us: int
    idempotency_key: str
    origin: _common_pb2.Origin
    def __init__(self, parent: _Optional[str] = ..., old_child: _Optional[str] = ..., new_child: _Optional[str] = ..., time_us: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., origin: _Optional[_Union[_common_pb2.Origin, _Mapping]] = ...) -> None: ...
