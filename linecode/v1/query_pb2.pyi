from linecode.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VerifyRequest(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: str
    def __init__(self, data: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("genuine", "usable", "reason", "message", "info", "expired")
    GENUINE_FIELD_NUMBER: _ClassVar[int]
    USABLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    genuine: bool
    usable: bool
    reason: str
    message: str
    info: _common_pb2.CodeInfo
    expired: bool
    def __init__(self, genuine: _Optional[bool] = ..., usable: _Optional[bool] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., info: _Optional[_Union[_common_pb2.CodeInfo, _Mapping]] = ..., expired: _Optional[bool] = ...) -> None: ...

class CodeRequest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class ChildrenResponse(_message.Message):
    __slots__ = ("parent", "children")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    children: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, parent: _Optional[str] = ..., children: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchCountsRequest(_message.Message):
    __slots__ = ("batch_id", "site_id")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    site_id: str
    def __init__(self, batch_id: _Optional[str] = ..., site_id: _Optional[str] = ...) -> None: ...

class CountRow(_message.Message):
    __slots__ = ("level", "level_name", "state", "count")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    level: int
    level_name: str
    state: _common_pb2.State
    count: int
    def __init__(self, level: _Optional[int] = ..., level_name: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.State, str]] = ..., count: _Optional[int] = ...) -> None: ...

class BatchCountsResponse(_message.Message):
    __slots__ = ("batch_id", "rows")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    rows: _containers.RepeatedCompositeFieldContainer[CountRow]
    def __init__(self, batch_id: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[CountRow, _Mapping]]] = ...) -> None: ...
