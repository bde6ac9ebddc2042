"""What a scanned code is, and what a printer prints for an issued one: the store's read-only
look-ups for QA (``Verify``, ``linecode verify``) and the printers (``PrintService``)."""

from __future__ import annotations

from collections.abc import Callable

from linecode.codes import CodeKey, Nmpa20Code, code_key, parse_element_string, parts, symbol_data
from linecode.errors import LinecodeError, NotFound
from linecode.reasons import Reason
from linecode.serials import KeyedChecks, MasterKey
from linecode.store import aggregation, coderules, lifecycle
from linecode.store.database import Database
from linecode.store.model import Batch, CodeInfo, CodeRule, Level, Lock, Product, State, Verification
from linecode.store.records import Row
from linecode.store.tx import Tx

_IN_USE = frozenset({State.COMMISSIONED, State.AGGREGATED, State.RELEASED})


class Lookups:
    """The verification and print look-ups of one store; keeps the keyed checks of its identifiers,
    derived again only when its products change."""

    def __init__(self, db: Database, master: Callable[[], MasterKey]) -> None:
        self._db = db
        self._master = master
        self._checks_cache: tuple[tuple[str, ...], KeyedChecks] | None = None

    def info(self, key: CodeKey) -> CodeInfo:
        """Everything about the code of ``key``; raises :class:`NotFound` ``UNKNOWN_CODE``."""
        return self._db.read(lambda tx: code_info(tx, key, tx.known_row(key)))

    def verify(self, data: str) -> Verification:
        """A scanned code in any spelling: genuine, and usable? Never raises for bad input."""
        try:
            key = code_key(data)
            p = parts(key)
            if p.rule == "nmpa20":  # the keyed check rejects forgeries without a lookup
                Nmpa20Code(p.identifier, p.serial, p.check).verify(self._checks())
            info = self.info(key)
        except LinecodeError as exc:
            return Verification(False, exc.reason, str(exc))
        return judge(data, info)

    def symbol(self, key: CodeKey) -> tuple[str, bool]:
        """The DataMatrix data of an issued code, and whether it is a GS1 symbol."""
        info = self.info(key)
        return symbol_data(info.code, info.expiry_date.strftime("%y%m%d"), info.batch_number)

    def allocated_symbols(
        self, batch_id: str, level: int | str, first_index: int, count: int
    ) -> tuple[list[str], list[str], bool]:
        """Keys and symbol data of pool indices ``first_index`` .. ``+ count - 1`` of a batch's level,
        each allocated to that batch (else :class:`NotFound` ``NOT_ALLOCATED``), and whether GS1."""

        def spec_of(tx: Tx) -> tuple[Batch, int, Level]:
            batch = tx.batch(batch_id)
            product = tx.product(batch.product_id)
            number = product.level(level)
            return batch, number, product.spec(number)

        batch, number, spec = self._db.read(spec_of)
        keys, symbols = coderules.generate(
            self._master(), spec, batch, first_index, count
        )  # checks the range
        pool = coderules.pool_name(spec)

        def run(tx: Tx) -> None:
            index, end = first_index, first_index + count
            while index < end:
                found = tx.allocation_at(pool, index)
                if found is None or (found.batch_ref, found.level) != (batch.ref, number):
                    # Name the index only: the code there may be another batch's, or not issued yet.
                    raise NotFound(
                        f"pool index {index} was not allocated to batch {batch_id!r}; expected indices "
                        "of that batch's allocations",
                        reason=Reason.NOT_ALLOCATED,
                        hint="stream the first_index and count of a CodeBlock that Allocate returned",
                    )
                index = found.end

        self._db.read(run)
        return keys, symbols, spec.rule is not CodeRule.NMPA20

    def _checks(self) -> KeyedChecks:
        """The keyed checks of every nmpa20 identifier here."""
        identifiers = tuple(
            lv.identifier
            for p in self._db.read(lambda tx: tx.products())
            for lv in p.levels
            if lv.rule is CodeRule.NMPA20
        )
        cached = self._checks_cache
        if cached is None or cached[0] != identifiers:
            cached = self._checks_cache = (identifiers, KeyedChecks(self._master(), identifiers))
        return cached[1]


def judge(data: str, info: CodeInfo) -> Verification:
    """What a scan of ``data`` is, given the code it names is genuine and is ``info``: usable (in
    use, not locked, not expired), else why not (the store's and the hub's Verify alike)."""
    mismatch = _gs1_mismatch(data, info)
    if mismatch:
        return Verification(False, Reason.DATA_MISMATCH, mismatch, info)
    if info.state not in _IN_USE:
        return Verification(True, Reason.NOT_IN_USE, f"genuine code, but {info.state.label}", info)
    if info.lock is not Lock.NORMAL:
        text = f"genuine code, locked: {info.lock.label} {info.lock.chinese}"
        return Verification(True, Reason.LOCKED, text, info)
    if info.expired:
        return Verification(True, Reason.EXPIRED, f"genuine code, expired on {info.expiry_date}", info)
    return Verification(True, Reason.OK, "genuine code in use", info, True)


def code_info(tx: Tx, key: str, row: Row) -> CodeInfo:
    """Everything about one code: level, state, effective status and lock, batch, path, counts."""
    batch = tx.batch_by_ref(row.batch_ref)
    path = tuple(aggregation.path_to_top(tx, key, row))
    return info_of(key, row, batch, tx.product(batch.product_id), path, aggregation.units_under(tx, key, row))


def info_of(
    key: str, row: Row, batch: Batch, product: Product, path: tuple[str, ...], units: int
) -> CodeInfo:
    """A code's :class:`CodeInfo` from its record, batch, product, path and units (the store's and
    the hub's alike)."""
    return CodeInfo(
        code=key,
        level=row.level,
        level_name=product.spec(row.level).name,
        product_id=product.product_id,
        batch_id=batch.batch_id,
        batch_number=batch.batch_number,
        expiry_date=batch.expiry_date,
        state=row.state,
        status=lifecycle.effective_status(row, batch),
        lock=lifecycle.effective_lock(row, batch),
        parent=row.parent,
        path=path,
        children=row.children,
        units=units,
        last_event_us=row.last_event_us,
    )


def _gs1_mismatch(data: str, info: CodeInfo) -> str | None:
    """For scanned GS1 strings: the (17) expiry and (10) batch must be the batch's."""
    if parts(info.code).rule != "gs1":
        return None
    try:
        fields = parse_element_string(data)
    except LinecodeError:
        return None
    if "10" in fields and fields["10"] != info.batch_number:
        return f"batch (10) {fields['10']!r} on the pack, expected {info.batch_number!r}"
    if "17" in fields and fields["17"] != info.expiry_date.strftime("%y%m%d"):
        return f"expiry (17) {fields['17']} on the pack, expected {info.expiry_date:%y%m%d}"
    return None
