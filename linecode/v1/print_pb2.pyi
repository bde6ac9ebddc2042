from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImageFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_FORMAT_PNG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_SVG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_PBM: _ClassVar[ImageFormat]
    IMAGE_FORMAT_MATRIX: _ClassVar[ImageFormat]

class SymbolShape(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYMBOL_SHAPE_ANY: _ClassVar[SymbolShape]
    SYMBOL_SHAPE_SQUARE: _ClassVar[SymbolShape]
    SYMBOL_SHAPE_RECTANGLE: _ClassVar[SymbolShape]

class LabelFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LABEL_FORMAT_ZPL: _ClassVar[LabelFormat]
    LABEL_FORMAT_PNG: _ClassVar[LabelFormat]
IMAGE_FORMAT_PNG: ImageFormat
IMAGE_FORMAT_SVG: ImageFormat
IMAGE_FORMAT_PBM: ImageFormat
IMAGE_FORMAT_MATRIX: ImageFormat
SYMBOL_SHAPE_ANY: SymbolShape
SYMBOL_SHAPE_SQUARE: SymbolShape
SYMBOL_SHAPE_RECTANGLE: SymbolShape
LABEL_FORMAT_ZPL: LabelFormat
LABEL_FORMAT_PNG: LabelFormat

class ImageOptions(_message.Message):
    __slots__ = ("format", "module_px", "quiet_zone", "rows", "cols", "shape")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    MODULE_PX_FIELD_NUMBER: _ClassVar[int]
    QUIET_ZONE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    format: ImageFormat
    module_px: int
    quiet_zone: int
    rows: int
    cols: int
    shape: SymbolShape
    def __init__(self, format: _Optional[_Union[ImageFormat, str]] = ..., module_px: _Optional[int] = ..., quiet_zone: _Optional[int] = ..., rows: _Optional[int] = ..., cols: _Optional[int] = ..., shape: _Optional[_Union[SymbolShape, str]] = ...) -> None: ...

class RenderImageRequest(_message.Message):
    __slots__ = ("code", "options")
    CODE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    code: str
    options: ImageOptions
    def __init__(self, code: _Optional[str] = ..., options: _Optional[_Union[ImageOptions, _Mapping]] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("code", "index", "data", "content_type", "rows", "cols")
    CODE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    code: str
    index: int
    data: bytes
    content_type: str
    rows: int
    cols: int
    def __init__(self, code: _Optional[str] = ..., index: _Optional[int] = ..., data: _Optional[bytes] = ..., content_type: _Optional[str] = ..., rows: _Optional[int] = ..., cols: _Optional[int] = ...) -> None: ...

class StreamImagesRequest(_message.Message):
    __slots__ = ("range", "codes", "options", "images_per_message")
    RANGE_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    IMAGES_PER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    range: IndexRangeSource
    codes: CodeList
    options: ImageOptions
    images_per_message: int
    def __init__(self, range: _Optional[_Union[IndexRangeSource, _Mapping]] = ..., codes: _Optional[_Union[CodeList, _Mapping]] = ..., options: _Optional[_Union[ImageOptions, _Mapping]] = ..., images_per_message: _Optional[int] = ...) -> None: ...

class ImageBlock(_message.Message):
    __slots__ = ("images",)
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Image]
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ...) -> None: ...

class IndexRangeSource(_message.Message):
    __slots__ = ("batch_id", "level", "first_index", "count")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    FIRST_INDEX_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    level: str
    first_index: int
    count: int
    def __init__(self, batch_id: _Optional[str] = ..., level: _Optional[str] = ..., first_index: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class CodeList(_message.Message):
    __slots__ = ("codes",)
    CODES_FIELD_NUMBER: _ClassVar[int]
    codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, codes: _Optional[_Iterable[str]] = ...) -> None: ...

class LabelRequest(_message.Message):
    __slots__ = ("code", "level", "layout", "profile", "format")
    CODE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    code: str
    level: str
    layout: str
    profile: str
    format: LabelFormat
    def __init__(self, code: _Optional[str] = ..., level: _Optional[str] = ..., layout: _Optional[str] = ..., profile: _Optional[str] = ..., format: _Optional[_Union[LabelFormat, str]] = ...) -> None: ...

class Label(_message.Message):
    __slots__ = ("code", "data", "content_type")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    code: str
    data: bytes
    content_type: str
    def __init__(self, code: _Optional[str] = ..., data: _Optional[bytes] = ..., content_type: _Optional[str] = ...) -> None: ...

class PrinterMessage(_message.Message):
    __slots__ = ("start", "printed", "dropped", "done")
    START_FIELD_NUMBER: _ClassVar[int]
    PRINTED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    start: JobStart
    printed: PrintedCodes
    dropped: DroppedCodes
    done: JobDone
    def __init__(self, start: _Optional[_Union[JobStart, _Mapping]] = ..., printed: _Optional[_Union[PrintedCodes, _Mapping]] = ..., dropped: _Optional[_Union[DroppedCodes, _Mapping]] = ..., done: _Optional[_Union[JobDone, _Mapping]] = ...) -> None: ...

class JobStart(_message.Message):
    __slots__ = ("job_id", "printer", "batch_id", "level", "count", "queue_depth", "options", "images", "resume", "next_position", "printed")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PRINTER_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    NEXT_POSITION_FIELD_NUMBER: _ClassVar[int]
    PRINTED_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    printer: str
    batch_id: str
    level: str
    count: int
    queue_depth: int
    options: ImageOptions
    images: bool
    resume: bool
    next_position: int
    printed: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, job_id: _Optional[str] = ..., printer: _Optional[str] = ..., batch_id: _Optional[str] = ..., level: _Optional[str] = ..., count: _Optional[int] = ..., queue_depth: _Optional[int] = ..., options: _Optional[_Union[ImageOptions, _Mapping]] = ..., images: _Optional[bool] = ..., resume: _Optional[bool] = ..., next_position: _Optional[int] = ..., printed: _Optional[_Iterable[int]] = ...) -> None: ...

class PrintedCodes(_message.Message):
    __slots__ = ("positions",)
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, positions: _Optional[_Iterable[int]] = ...) -> None: ...

class DroppedCodes(_message.Message):
    __slots__ = ("positions", "reason")
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedScalarFieldContainer[int]
    reason: str
    def __init__(self, positions: _Optional[_Iterable[int]] = ..., reason: _Optional[str] = ...) -> None: ...

class JobDone(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class JobMessage(_message.Message):
    __slots__ = ("code", "started", "summary", "recorded")
    CODE_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    code: JobCode
    started: JobStarted
    summary: JobSummary
    recorded: PrintedCodes
    def __init__(self, code: _Optional[_Union[JobCode, _Mapping]] = ..., started: _Optional[_Union[JobStarted, _Mapping]] = ..., summary: _Optional[_Union[JobSummary, _Mapping]] = ..., recorded: _Optional[_Union[PrintedCodes, _Mapping]] = ...) -> None: ...

class JobStarted(_message.Message):
    __slots__ = ("job_id", "count", "next_position", "gs1")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_POSITION_FIELD_NUMBER: _ClassVar[int]
    GS1_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    count: int
    next_position: int
    gs1: bool
    def __init__(self, job_id: _Optional[str] = ..., count: _Optional[int] = ..., next_position: _Optional[int] = ..., gs1: _Optional[bool] = ...) -> None: ...

class JobCode(_message.Message):
    __slots__ = ("position", "code", "data", "image")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    position: int
    code: str
    data: str
    image: Image
    def __init__(self, position: _Optional[int] = ..., code: _Optional[str] = ..., data: _Optional[str] = ..., image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class JobSummary(_message.Message):
    __slots__ = ("job_id", "printed", "not_printed", "dropped")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PRINTED_FIELD_NUMBER: _ClassVar[int]
    NOT_PRINTED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    printed: int
    not_printed: _containers.RepeatedScalarFieldContainer[str]
    dropped: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[str] = ..., printed: _Optional[int] = ..., not_printed: _Optional[_Iterable[str]] = ..., dropped: _Optional[_Iterable[str]] = ...) -> None: ...
