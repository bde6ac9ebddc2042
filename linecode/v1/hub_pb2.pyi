from linecode.v1 import admin_pb2 as _admin_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetLimitsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LeaseLimits(_message.Message):
    __slots__ = ("min_size", "max_size", "default_size")
    MIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_SIZE_FIELD_NUMBER: _ClassVar[int]
    min_size: int
    max_size: int
    default_size: int
    def __init__(self, min_size: _Optional[int] = ..., max_size: _Optional[int] = ..., default_size: _Optional[int] = ...) -> None: ...

class GrantRequest(_message.Message):
    __slots__ = ("pool", "count", "idempotency_key", "site_id")
    POOL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    pool: str
    count: int
    idempotency_key: str
    site_id: str
    def __init__(self, pool: _Optional[str] = ..., count: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., site_id: _Optional[str] = ...) -> None: ...

class LeaseGrant(_message.Message):
    __slots__ = ("pool", "start", "end", "rule_json", "replayed", "idempotency_key", "site_id")
    POOL_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    RULE_JSON_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    pool: str
    start: int
    end: int
    rule_json: str
    replayed: bool
    idempotency_key: str
    site_id: str
    def __init__(self, pool: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., rule_json: _Optional[str] = ..., replayed: _Optional[bool] = ..., idempotency_key: _Optional[str] = ..., site_id: _Optional[str] = ...) -> None: ...

class EventBlock(_message.Message):
    __slots__ = ("first_seq", "events", "batches", "levels")
    class BatchesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: str
        def __init__(self, key: _Optional[int] = ..., value: _Optional[str] = ...) -> None: ...
    class LevelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    first_seq: int
    events: _containers.RepeatedScalarFieldContainer[bytes]
    batches: _containers.ScalarMap[int, str]
    levels: _containers.ScalarMap[str, int]
    def __init__(self, first_seq: _Optional[int] = ..., events: _Optional[_Iterable[bytes]] = ..., batches: _Optional[_Mapping[int, str]] = ..., levels: _Optional[_Mapping[str, int]] = ...) -> None: ...

class Shipment(_message.Message):
    __slots__ = ("site_id", "block", "head_seq")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    block: EventBlock
    head_seq: int
    def __init__(self, site_id: _Optional[str] = ..., block: _Optional[_Union[EventBlock, _Mapping]] = ..., head_seq: _Optional[int] = ...) -> None: ...

class ShipAck(_message.Message):
    __slots__ = ("site_id", "acked_seq", "stored", "code_events")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ACKED_SEQ_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    CODE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    acked_seq: int
    stored: int
    code_events: int
    def __init__(self, site_id: _Optional[str] = ..., acked_seq: _Optional[int] = ..., stored: _Optional[int] = ..., code_events: _Optional[int] = ...) -> None: ...

class PositionRequest(_message.Message):
    __slots__ = ("site_id",)
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    def __init__(self, site_id: _Optional[str] = ...) -> None: ...

class SiteEventsRequest(_message.Message):
    __slots__ = ("site_id", "after_seq")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    after_seq: int
    def __init__(self, site_id: _Optional[str] = ..., after_seq: _Optional[int] = ...) -> None: ...

class HubExportRequest(_message.Message):
    __slots__ = ("batch_id", "site_id", "format", "utc_offset_minutes")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    UTC_OFFSET_MINUTES_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    site_id: str
    format: _admin_pb2.ExportFormat
    utc_offset_minutes: int
    def __init__(self, batch_id: _Optional[str] = ..., site_id: _Optional[str] = ..., format: _Optional[_Union[_admin_pb2.ExportFormat, str]] = ..., utc_offset_minutes: _Optional[int] = ...) -> None: ...

class PullRequest(_message.Message):
    __slots__ = ("cursor", "max_events", "utc_offset_minutes")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    MAX_EVENTS_FIELD_NUMBER: _ClassVar[int]
    UTC_OFFSET_MINUTES_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    max_events: int
    utc_offset_minutes: int
    def __init__(self, cursor: _Optional[str] = ..., max_events: _Optional[int] = ..., utc_offset_minutes: _Optional[int] = ...) -> None: ...

class PullChunk(_message.Message):
    __slots__ = ("data", "content_type", "next_cursor", "events", "more", "summary")
    DATA_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    content_type: str
    next_cursor: str
    events: int
    more: bool
    summary: _admin_pb2.ExportSummary
    def __init__(self, data: _Optional[bytes] = ..., content_type: _Optional[str] = ..., next_cursor: _Optional[str] = ..., events: _Optional[int] = ..., more: _Optional[bool] = ..., summary: _Optional[_Union[_admin_pb2.ExportSummary, _Mapping]] = ...) -> None: ...
