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
IMAGE_FORMAT_PNG: ImageFormat
IMAGE_FORMAT_SVG: ImageFormat
IMAGE_FORMAT_PBM: ImageFormat
IMAGE_FORMAT_MATRIX: ImageFormat
SYMBOL_SHAPE_ANY: SymbolShape
SYMBOL_SHAPE_SQUARE: SymbolShape
SYMBOL_SHAPE_RECTANGLE: SymbolShape

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
