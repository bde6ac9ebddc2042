from linecode.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_FORMAT_UNSPECIFIED: _ClassVar[ExportFormat]
    EXPORT_FORMAT_EPCIS: _ClassVar[ExportFormat]
    EXPORT_FORMAT_NMPA_JSON: _ClassVar[ExportFormat]
    EXPORT_FORMAT_NMPA_XML: _ClassVar[ExportFormat]
EXPORT_FORMAT_UNSPECIFIED: ExportFormat
EXPORT_FORMAT_EPCIS: ExportFormat
EXPORT_FORMAT_NMPA_JSON: ExportFormat
EXPORT_FORMAT_NMPA_XML: ExportFormat

class Level(_message.Message):
    __slots__ = ("name", "rule", "identifier", "pack_ratio", "serial_alphabet", "serial_length")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    PACK_RATIO_FIELD_NUMBER: _ClassVar[int]
    SERIAL_ALPHABET_FIELD_NUMBER: _ClassVar[int]
    SERIAL_LENGTH_FIELD_NUMBER: _ClassVar[int]
    name: str
    rule: str
    identifier: str
    pack_ratio: int
    serial_alphabet: str
    serial_length: int
    def __init__(self, name: _Optional[str] = ..., rule: _Optional[str] = ..., identifier: _Optional[str] = ..., pack_ratio: _Optional[int] = ..., serial_alphabet: _Optional[str] = ..., serial_length: _Optional[int] = ...) -> None: ...

class Product(_message.Message):
    __slots__ = ("product_id", "name", "mah", "levels", "mixed_pallets")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAH_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    MIXED_PALLETS_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    name: str
    mah: str
    levels: _containers.RepeatedCompositeFieldContainer[Level]
    mixed_pallets: bool
    def __init__(self, product_id: _Optional[str] = ..., name: _Optional[str] = ..., mah: _Optional[str] = ..., levels: _Optional[_Iterable[_Union[Level, _Mapping]]] = ..., mixed_pallets: _Optional[bool] = ...) -> None: ...

class GetProductRequest(_message.Message):
    __slots__ = ("product_id",)
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    def __init__(self, product_id: _Optional[str] = ...) -> None: ...

class ListProductsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListProductsResponse(_message.Message):
    __slots__ = ("products",)
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[Product]
    def __init__(self, products: _Optional[_Iterable[_Union[Product, _Mapping]]] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("batch_id", "product_id", "batch_number", "production_date", "expiry_date", "line", "planned_quantity", "state", "status", "lock")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PRODUCTION_DATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_DATE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    PLANNED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LOCK_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    product_id: str
    batch_number: str
    production_date: str
    expiry_date: str
    line: str
    planned_quantity: int
    state: _common_pb2.BatchState
    status: _common_pb2.RegulatoryStatus
    lock: _common_pb2.Lock
    def __init__(self, batch_id: _Optional[str] = ..., product_id: _Optional[str] = ..., batch_number: _Optional[str] = ..., production_date: _Optional[str] = ..., expiry_date: _Optional[str] = ..., line: _Optional[str] = ..., planned_quantity: _Optional[int] = ..., state: _Optional[_Union[_common_pb2.BatchState, str]] = ..., status: _Optional[_Union[_common_pb2.RegulatoryStatus, str]] = ..., lock: _Optional[_Union[_common_pb2.Lock, str]] = ...) -> None: ...

class GetBatchRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class SetLockRequest(_message.Message):
    __slots__ = ("batch_id", "codes", "lock", "reason", "origin", "idempotency_key", "time_us")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    LOCK_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    TIME_US_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    codes: CodeSet
    lock: _common_pb2.Lock
    reason: str
    origin: _common_pb2.Origin
    idempotency_key: str
    time_us: int
    def __init__(self, batch_id: _Optional[str] = ..., codes: _Optional[_Union[CodeSet, _Mapping]] = ..., lock: _Optional[_Union[_common_pb2.Lock, str]] = ..., reason: _Optional[str] = ..., origin: _Optional[_Union[_common_pb2.Origin, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., time_us: _Optional[int] = ...) -> None: ...

class SetStatusRequest(_message.Message):
    __slots__ = ("batch_id", "codes", "status", "reason", "origin", "idempotency_key", "time_us")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    TIME_US_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    codes: CodeSet
    status: _common_pb2.RegulatoryStatus
    reason: str
    origin: _common_pb2.Origin
    idempotency_key: str
    time_us: int
    def __init__(self, batch_id: _Optional[str] = ..., codes: _Optional[_Union[CodeSet, _Mapping]] = ..., status: _Optional[_Union[_common_pb2.RegulatoryStatus, str]] = ..., reason: _Optional[str] = ..., origin: _Optional[_Union[_common_pb2.Origin, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., time_us: _Optional[int] = ...) -> None: ...

class CodeSet(_message.Message):
    __slots__ = ("codes",)
    CODES_FIELD_NUMBER: _ClassVar[int]
    codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, codes: _Optional[_Iterable[str]] = ...) -> None: ...

class CloseBatchRequest(_message.Message):
    __slots__ = ("batch_id", "override_reason", "origin", "idempotency_key", "time_us")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_REASON_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    TIME_US_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    override_reason: str
    origin: _common_pb2.Origin
    idempotency_key: str
    time_us: int
    def __init__(self, batch_id: _Optional[str] = ..., override_reason: _Optional[str] = ..., origin: _Optional[_Union[_common_pb2.Origin, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., time_us: _Optional[int] = ...) -> None: ...

class LevelReconciliation(_message.Message):
    __slots__ = ("level", "level_name", "allocated", "encoded", "unused", "commissioned", "scrapped", "not_verified", "aggregated", "sampled", "destroyed", "decommissioned", "loose", "top", "empty_parents", "partial_declared", "partial_undeclared", "locked", "released", "balanced")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_NAME_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_FIELD_NUMBER: _ClassVar[int]
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    UNUSED_FIELD_NUMBER: _ClassVar[int]
    COMMISSIONED_FIELD_NUMBER: _ClassVar[int]
    SCRAPPED_FIELD_NUMBER: _ClassVar[int]
    NOT_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    AGGREGATED_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    DESTROYED_FIELD_NUMBER: _ClassVar[int]
    DECOMMISSIONED_FIELD_NUMBER: _ClassVar[int]
    LOOSE_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    EMPTY_PARENTS_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_DECLARED_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_UNDECLARED_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    BALANCED_FIELD_NUMBER: _ClassVar[int]
    level: int
    level_name: str
    allocated: int
    encoded: int
    unused: int
    commissioned: int
    scrapped: int
    not_verified: int
    aggregated: int
    sampled: int
    destroyed: int
    decommissioned: int
    loose: int
    top: int
    empty_parents: int
    partial_declared: int
    partial_undeclared: int
    locked: int
    released: int
    balanced: bool
    def __init__(self, level: _Optional[int] = ..., level_name: _Optional[str] = ..., allocated: _Optional[int] = ..., encoded: _Optional[int] = ..., unused: _Optional[int] = ..., commissioned: _Optional[int] = ..., scrapped: _Optional[int] = ..., not_verified: _Optional[int] = ..., aggregated: _Optional[int] = ..., sampled: _Optional[int] = ..., destroyed: _Optional[int] = ..., decommissioned: _Optional[int] = ..., loose: _Optional[int] = ..., top: _Optional[int] = ..., empty_parents: _Optional[int] = ..., partial_declared: _Optional[int] = ..., partial_undeclared: _Optional[int] = ..., locked: _Optional[int] = ..., released: _Optional[int] = ..., balanced: _Optional[bool] = ...) -> None: ...

class ReconciliationReport(_message.Message):
    __slots__ = ("batch_id", "product_id", "state", "levels", "discrepancies", "loose_units", "undeclared_partial", "override_reason", "closed_event_seq", "ok", "closed_time_us", "exported_to", "exported_time_us")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    DISCREPANCIES_FIELD_NUMBER: _ClassVar[int]
    LOOSE_UNITS_FIELD_NUMBER: _ClassVar[int]
    UNDECLARED_PARTIAL_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_REASON_FIELD_NUMBER: _ClassVar[int]
    CLOSED_EVENT_SEQ_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    CLOSED_TIME_US_FIELD_NUMBER: _ClassVar[int]
    EXPORTED_TO_FIELD_NUMBER: _ClassVar[int]
    EXPORTED_TIME_US_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    product_id: str
    state: _common_pb2.BatchState
    levels: _containers.RepeatedCompositeFieldContainer[LevelReconciliation]
    discrepancies: _containers.RepeatedScalarFieldContainer[str]
    loose_units: _containers.RepeatedScalarFieldContainer[str]
    undeclared_partial: _containers.RepeatedScalarFieldContainer[str]
    override_reason: str
    closed_event_seq: int
    ok: bool
    closed_time_us: int
    exported_to: str
    exported_time_us: int
    def __init__(self, batch_id: _Optional[str] = ..., product_id: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.BatchState, str]] = ..., levels: _Optional[_Iterable[_Union[LevelReconciliation, _Mapping]]] = ..., discrepancies: _Optional[_Iterable[str]] = ..., loose_units: _Optional[_Iterable[str]] = ..., undeclared_partial: _Optional[_Iterable[str]] = ..., override_reason: _Optional[str] = ..., closed_event_seq: _Optional[int] = ..., ok: _Optional[bool] = ..., closed_time_us: _Optional[int] = ..., exported_to: _Optional[str] = ..., exported_time_us: _Optional[int] = ...) -> None: ...

class ExportLeaseRequest(_message.Message):
    __slots__ = ("pool", "count", "origin", "idempotency_key")
    POOL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    pool: str
    count: int
    origin: _common_pb2.Origin
    idempotency_key: str
    def __init__(self, pool: _Optional[str] = ..., count: _Optional[int] = ..., origin: _Optional[_Union[_common_pb2.Origin, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class LeaseMessage(_message.Message):
    __slots__ = ("text", "origin")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    text: str
    origin: _common_pb2.Origin
    def __init__(self, text: _Optional[str] = ..., origin: _Optional[_Union[_common_pb2.Origin, _Mapping]] = ...) -> None: ...

class ExportBatchRequest(_message.Message):
    __slots__ = ("batch_id", "format", "utc_offset_minutes")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    UTC_OFFSET_MINUTES_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    format: ExportFormat
    utc_offset_minutes: int
    def __init__(self, batch_id: _Optional[str] = ..., format: _Optional[_Union[ExportFormat, str]] = ..., utc_offset_minutes: _Optional[int] = ...) -> None: ...

class MarkBatchExportedRequest(_message.Message):
    __slots__ = ("batch_id", "destination", "origin", "idempotency_key", "time_us")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    TIME_US_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    destination: str
    origin: _common_pb2.Origin
    idempotency_key: str
    time_us: int
    def __init__(self, batch_id: _Optional[str] = ..., destination: _Optional[str] = ..., origin: _Optional[_Union[_common_pb2.Origin, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., time_us: _Optional[int] = ...) -> None: ...

class ExportSummary(_message.Message):
    __slots__ = ("batch_id", "format", "bytes_written", "codes", "relations", "events", "last_event_seq")
    class EventsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    BYTES_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    RELATIONS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_SEQ_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    format: str
    bytes_written: int
    codes: int
    relations: int
    events: _containers.ScalarMap[str, int]
    last_event_seq: int
    def __init__(self, batch_id: _Optional[str] = ..., format: _Optional[str] = ..., bytes_written: _Optional[int] = ..., codes: _Optional[int] = ..., relations: _Optional[int] = ..., events: _Optional[_Mapping[str, int]] = ..., last_event_seq: _Optional[int] = ...) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("data", "content_type", "summary")
    DATA_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    content_type: str
    summary: ExportSummary
    def __init__(self, data: _Optional[bytes] = ..., content_type: _Optional[str] = ..., summary: _Optional[_Union[ExportSummary, _Mapping]] = ...) -> None: ...

class CheckStoreRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class CheckFinding(_message.Message):
    __slots__ = ("area", "message")
    AREA_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    area: str
    message: str
    def __init__(self, area: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class CheckStoreReport(_message.Message):
    __slots__ = ("ok", "last_event_seq", "checked", "disagreements", "total", "findings")
    class CheckedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class DisagreementsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    OK_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_SEQ_FIELD_NUMBER: _ClassVar[int]
    CHECKED_FIELD_NUMBER: _ClassVar[int]
    DISAGREEMENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    last_event_seq: int
    checked: _containers.ScalarMap[str, int]
    disagreements: _containers.ScalarMap[str, int]
    total: int
    findings: _containers.RepeatedCompositeFieldContainer[CheckFinding]
    def __init__(self, ok: _Optional[bool] = ..., last_event_seq: _Optional[int] = ..., checked: _Optional[_Mapping[str, int]] = ..., disagreements: _Optional[_Mapping[str, int]] = ..., total: _Optional[int] = ..., findings: _Optional[_Iterable[_Union[CheckFinding, _Mapping]]] = ...) -> None: ...
