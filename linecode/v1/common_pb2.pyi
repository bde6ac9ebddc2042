from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATE_UNSPECIFIED: _ClassVar[State]
    STATE_ALLOCATED: _ClassVar[State]
    STATE_ENCODED: _ClassVar[State]
    STATE_COMMISSIONED: _ClassVar[State]
    STATE_AGGREGATED: _ClassVar[State]
    STATE_RELEASED: _ClassVar[State]
    STATE_SCRAPPED: _ClassVar[State]
    STATE_SAMPLED: _ClassVar[State]
    STATE_DESTROYED: _ClassVar[State]
    STATE_DECOMMISSIONED: _ClassVar[State]

class RegulatoryStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REGULATORY_STATUS_NONE: _ClassVar[RegulatoryStatus]
    REGULATORY_STATUS_SELF_CHECKED: _ClassVar[RegulatoryStatus]
    REGULATORY_STATUS_LOT_RELEASED: _ClassVar[RegulatoryStatus]
    REGULATORY_STATUS_EXPIRED: _ClassVar[RegulatoryStatus]
    REGULATORY_STATUS_DAMAGED: _ClassVar[RegulatoryStatus]
    REGULATORY_STATUS_DESTROYED: _ClassVar[RegulatoryStatus]
    REGULATORY_STATUS_RECALLING: _ClassVar[RegulatoryStatus]
    REGULATORY_STATUS_RECALLED: _ClassVar[RegulatoryStatus]
    REGULATORY_STATUS_USED: _ClassVar[RegulatoryStatus]
    REGULATORY_STATUS_DEACTIVATED: _ClassVar[RegulatoryStatus]
    REGULATORY_STATUS_OTHER: _ClassVar[RegulatoryStatus]

class Lock(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOCK_NORMAL: _ClassVar[Lock]
    LOCK_PENDING: _ClassVar[Lock]
    LOCK_TO_BE_RECALLED: _ClassVar[Lock]
    LOCK_ABNORMAL: _ClassVar[Lock]

class BatchState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BATCH_STATE_UNSPECIFIED: _ClassVar[BatchState]
    BATCH_STATE_OPEN: _ClassVar[BatchState]
    BATCH_STATE_CLOSED: _ClassVar[BatchState]
    BATCH_STATE_EXPORTED: _ClassVar[BatchState]
STATE_UNSPECIFIED: State
STATE_ALLOCATED: State
STATE_ENCODED: State
STATE_COMMISSIONED: State
STATE_AGGREGATED: State
STATE_RELEASED: State
STATE_SCRAPPED: State
STATE_SAMPLED: State
STATE_DESTROYED: State
STATE_DECOMMISSIONED: State
REGULATORY_STATUS_NONE: RegulatoryStatus
REGULATORY_STATUS_SELF_CHECKED: RegulatoryStatus
REGULATORY_STATUS_LOT_RELEASED: RegulatoryStatus
REGULATORY_STATUS_EXPIRED: RegulatoryStatus
REGULATORY_STATUS_DAMAGED: RegulatoryStatus
REGULATORY_STATUS_DESTROYED: RegulatoryStatus
REGULATORY_STATUS_RECALLING: RegulatoryStatus
REGULATORY_STATUS_RECALLED: RegulatoryStatus
REGULATORY_STATUS_USED: RegulatoryStatus
REGULATORY_STATUS_DEACTIVATED: RegulatoryStatus
REGULATORY_STATUS_OTHER: RegulatoryStatus
LOCK_NORMAL: Lock
LOCK_PENDING: Lock
LOCK_TO_BE_RECALLED: Lock
LOCK_ABNORMAL: Lock
BATCH_STATE_UNSPECIFIED: BatchState
BATCH_STATE_OPEN: BatchState
BATCH_STATE_CLOSED: BatchState
BATCH_STATE_EXPORTED: BatchState

class ErrorDetail(_message.Message):
    __slots__ = ("reason", "codes", "hint", "codes_total")
    REASON_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    CODES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    reason: str
    codes: _containers.RepeatedScalarFieldContainer[str]
    hint: str
    codes_total: int
    def __init__(self, reason: _Optional[str] = ..., codes: _Optional[_Iterable[str]] = ..., hint: _Optional[str] = ..., codes_total: _Optional[int] = ...) -> None: ...

class Origin(_message.Message):
    __slots__ = ("line", "actor")
    LINE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    line: str
    actor: str
    def __init__(self, line: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class CodeInfo(_message.Message):
    __slots__ = ("code", "level", "level_name", "product_id", "batch_id", "batch_number", "expiry_date", "state", "status", "lock", "parent", "path", "children", "units", "last_event_time_us")
    CODE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_NAME_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_DATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LOCK_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_TIME_US_FIELD_NUMBER: _ClassVar[int]
    code: str
    level: int
    level_name: str
    product_id: str
    batch_id: str
    batch_number: str
    expiry_date: str
    state: State
    status: RegulatoryStatus
    lock: Lock
    parent: str
    path: _containers.RepeatedScalarFieldContainer[str]
    children: int
    units: int
    last_event_time_us: int
    def __init__(self, code: _Optional[str] = ..., level: _Optional[int] = ..., level_name: _Optional[str] = ..., product_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., batch_number: _Optional[str] = ..., expiry_date: _Optional[str] = ..., state: _Optional[_Union[State, str]] = ..., status: _Optional[_Union[RegulatoryStatus, str]] = ..., lock: _Optional[_Union[Lock, str]] = ..., parent: _Optional[str] = ..., path: _Optional[_Iterable[str]] = ..., children: _Optional[int] = ..., units: _Optional[int] = ..., last_event_time_us: _Optional[int] = ...) -> None: ...

class TreeNode(_message.Message):
    __slots__ = ("code", "level", "state", "children")
    CODE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    code: str
    level: int
    state: State
    children: _containers.RepeatedCompositeFieldContainer[TreeNode]
    def __init__(self, code: _Optional[str] = ..., level: _Optional[int] = ..., state: _Optional[_Union[State, str]] = ..., children: _Optional[_Iterable[_Union[TreeNode, _Mapping]]] = ...) -> None: ...

class Change(_message.Message):
    __slots__ = ("event_seq", "codes", "parent", "replayed")
    EVENT_SEQ_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    event_seq: int
    codes: _containers.RepeatedScalarFieldContainer[str]
    parent: str
    replayed: bool
    def __init__(self, event_seq: _Optional[int] = ..., codes: _Optional[_Iterable[str]] = ..., parent: _Optional[str] = ..., replayed: _Optional[bool] = ...) -> None: ...
