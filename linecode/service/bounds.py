"""The bound of every string field of the gRPC contract, and the one check of every request.

:func:`check_request` runs in the call guard before anything else looks at a request: every string
field that is set (nested messages and repeated fields too) must fit its :class:`~linecode.bounds.Bound`,
else the call is refused with INVALID_ARGUMENT (``TOO_LONG`` / ``BAD_CHARACTER``) naming the field.
A field is looked up as ``Message.field``, then by its name alone; a string field of the contract
named in neither has the ``ANY`` bound (a test holds the table complete).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from linecode import bounds
from linecode.bounds import Bound

FIELDS: dict[str, Bound] = {
    # ids
    "product_id": bounds.ID,
    "batch_id": bounds.ID,
    "batch_number": bounds.ID,
    "BatchCountsRequest.site_id": bounds.ID,  # a hub's: site ids are 1-100 printable characters
    "site_id": bounds.ID,
    "PullRequest.cursor": bounds.LEASE,  # every site's position: grows with the sites
    "EventBlock.batches": bounds.ID,  # batch number -> batch id
    "EventBlock.levels": bounds.CODE,  # code -> level
    # who and where
    "line": bounds.LINE,
    "actor": bounds.ACTOR,
    "idempotency_key": bounds.IDEMPOTENCY_KEY,
    "job_id": bounds.IDEMPOTENCY_KEY,
    "printer": bounds.ACTOR,
    # codes, in any spelling
    "code": bounds.CODE,
    "codes": bounds.CODE,
    "data": bounds.CODE,
    "parent": bounds.CODE,
    "new_parent": bounds.CODE,
    "children": bounds.CODE,
    "old_child": bounds.CODE,
    "JobCode.data": bounds.CODE,
    "not_printed": bounds.CODE,
    "dropped": bounds.CODE,
    "new_child": bounds.CODE,
    # products and levels
    "Product.name": bounds.NAME,
    "mah": bounds.NAME,
    "Level.name": bounds.LEVEL,
    "level": bounds.LEVEL,
    "rule": bounds.SHORT,
    "identifier": bounds.SHORT,
    "serial_alphabet": bounds.SHORT,
    "production_date": bounds.SHORT,
    "expiry_date": bounds.SHORT,
    "pool": bounds.SHORT,
    # free text
    "reason": bounds.TEXT,
    "override_reason": bounds.TEXT,
    "destination": bounds.TEXT,
    "LeaseMessage.text": bounds.LEASE,
    "LabelRequest.layout": bounds.LAYOUT,
    "LabelRequest.profile": bounds.SHORT,
    "Label.content_type": bounds.SHORT,
}
"""``Message.field`` or ``field`` → its bound."""


def bound_of(message: str, field: str) -> Bound | None:
    """The bound the table gives ``message.field`` (None: not in the table)."""
    return FIELDS.get(f"{message}.{field}") or FIELDS.get(field)


def check_request(message: Any, path: str = "") -> None:
    """Raise :class:`~linecode.errors.InvalidArgument` unless every string set in ``message`` fits."""
    name = message.DESCRIPTOR.name
    for fd, value in message.ListFields():
        where = f"{path}{fd.name}"
        if fd.type == FieldDescriptor.TYPE_STRING:
            bound = bound_of(name, fd.name) or bounds.ANY
            if fd.is_repeated:
                bound.check_all(value, where)
            else:
                bound.check(value, where)
        elif fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry:
            _check_map(name, fd, value, where)
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            if fd.is_repeated:
                for i, item in enumerate(value):
                    check_request(item, f"{where}[{i}].")
            else:
                check_request(value, f"{where}.")


def _check_map(name: str, fd: FieldDescriptor, value: Any, where: str) -> None:
    """A map field: its string keys and values bounded as the field (``Message.field``) says,
    its message values checked through."""
    entry = fd.message_type.fields_by_name
    bound = bound_of(name, fd.name) or bounds.ANY
    for key, item in value.items():
        if entry["key"].type == FieldDescriptor.TYPE_STRING:
            bound.check(key, f"{where} key")
        if entry["value"].type == FieldDescriptor.TYPE_STRING:
            bound.check(item, f"{where}[{key!r}]")
        elif entry["value"].type == FieldDescriptor.TYPE_MESSAGE:
            check_request(item, f"{where}[{key!r}].")
