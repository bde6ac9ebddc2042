from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

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
