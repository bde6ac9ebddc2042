"""A small, pure-Python model of the line store for the model-based tests (``test_model.py``,
``tests/service/test_model_rpc.py``): what every write should do, written from SPEC §3, §4 and §6
and the store's documented rules, without any of the store's own modules.

Per code: batch, level, state, parent, children, partial flag, lock, status and the time of its
last event; per batch: line, state, lock, status, last batch-wide event. :meth:`Model.predict`
takes a request and says either how the store looks after it or which rules it breaks. A refusal
must name one of the rules broken (its gRPC status and, where the model knows it, its reason):

* rules of the request's shape (a code named twice in any spelling, the parent among its children,
  an event time out of range, an idempotency key reused for another request) come before any rule
  of the store's state (``SHAPE`` before ``STATE``: unknown codes, life cycle, aggregation, times);
* ``ANY`` rules may be what a refusal names whatever else is broken: the caller's lines
  (``ROLE_FORBIDS``, decided where a write happens) and empty lists.

A request the model accepts must be accepted, and the store must then equal the model. Times the
store chooses itself (no time sent) are taken from the store after the write and checked: one time
per write, never before the last event of anything the write changed.

Rules the model holds beyond the letter of the issue (each says what SPEC or the store's own
documentation implies):

* a closed batch's codes do not change: taking a released code of a closed batch out of an open
  mixed pallet (disaggregate, replace) is ``BATCH_NOT_OPEN``, as moving it (reparent) is;
* a rework (replace) keeps the parent as it was declared: a declared partial parent stays partial;
* idempotency keys are per caller: a caller limited to lines has its own keys for each set of lines;
* a code holding children is not taken out of service until emptied (``PARENT_NOT_EMPTY``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

# --- the life cycle (SPEC §3), as plain strings ---------------------------------------------------

OPEN, CLOSED = "open", "closed"
NORMAL = "normal"
LOCKS = ("normal", "pending", "to_be_recalled", "abnormal")
STATUSES = ("none", "self_checked", "lot_released", "recalling", "other")
EVENTS = ("printed", "verified", "verify_failed", "sampled", "destroyed", "decommissioned")
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "printed": (frozenset({"allocated"}), "encoded"),
    "verified": (frozenset({"encoded"}), "commissioned"),
    "verify_failed": (frozenset({"encoded", "commissioned"}), "scrapped"),
    "sampled": (frozenset({"commissioned"}), "sampled"),
    "destroyed": (
        frozenset({"encoded", "commissioned", "scrapped", "sampled", "decommissioned"}),
        "destroyed",
    ),
    "decommissioned": (frozenset({"commissioned"}), "decommissioned"),
}
OUT_OF_SERVICE = {
    "scrapped": "CHILD_SCRAPPED",
    "sampled": "CHILD_SAMPLED",
    "destroyed": "CHILD_DESTROYED",
    "decommissioned": "CHILD_DECOMMISSIONED",
}
IN_USE = frozenset({"commissioned", "aggregated", "released"})
PARENT_STATES = frozenset({"commissioned", "aggregated"})
REPLACED_TO = ("decommissioned", "destroyed", "commissioned")
MIN_TIME_US = 946_684_800_000_000  # 2000-01-01
MAX_AHEAD_US = 10 * 60 * 1_000_000


def now_us() -> int:
    return time.time_ns() // 1000


# --- spellings (SPEC §1, "one code, one key") -----------------------------------------------------


def spellings(key: str) -> list[str]:
    """Ways a person or scanner writes the code filed under ``key`` (the key itself first)."""
    if key.startswith("(00)"):
        digits = key[4:]
        return [key, digits, "00" + digits]
    return [key, f"{key[:7]} {key[7:16]} {key[16:]}", f"{key[:7]}-{key[7:16]}-{key[16:]}"]


def canonical(text: str) -> str:
    """The key of a spelling, for the codes these tests make (nmpa20 identifiers never start
    ``00``, so 20 digits starting ``00`` are an SSCC element string)."""
    s = text.strip()
    if s.startswith("(00)"):
        return s
    digits = s.replace(" ", "").replace("-", "")
    if len(digits) == 18:
        return "(00)" + digits
    if len(digits) == 20 and digits.startswith("00"):
        return "(00)" + digits[2:]
    return digits


# --- what is expected -----------------------------------------------------------------------------

ANY, SHAPE, STATE = 0, 1, 2


@dataclass(frozen=True)
class Rule:
    """A rule a request breaks: the gRPC status a refusal for it has, and its reasons (None: the
    model does not say which reason)."""

    tier: int
    status: str
    reasons: tuple[str, ...] | None = None

    def matches(self, status: str, reason: str) -> bool:
        return status == self.status and (self.reasons is None or reason in self.reasons)

    def __str__(self) -> str:
        return f"{self.status} {'|'.join(self.reasons or ('*',))}"


def shape(*reasons: str) -> Rule:
    return Rule(SHAPE, "INVALID_ARGUMENT", reasons)


def rule(*reasons: str) -> Rule:
    return Rule(STATE, "FAILED_PRECONDITION", reasons)


UNKNOWN = Rule(STATE, "NOT_FOUND")
BACKWARDS = rule("TIME_WENT_BACKWARDS")
FORBIDDEN = Rule(ANY, "PERMISSION_DENIED", ("ROLE_FORBIDS",))
KEY_REUSED = Rule(SHAPE, "ALREADY_EXISTS", ("IDEMPOTENCY_KEY_REUSED",))
EMPTY_FIRST = rule("PARENT_NOT_EMPTY")
"""A code holding children cannot be taken out of service (scrapped, sampled, destroyed,
decommissioned): its children would stay packed in it."""


def allowed(rules: Sequence[Rule], status: str, reason: str) -> bool:
    """Whether a refusal with ``status`` and ``reason`` names a rule the request breaks, the first
    broken tier first (``ANY`` rules always count)."""
    ranked = [r.tier for r in rules if r.tier != ANY]
    first = min(ranked, default=ANY)
    return any(r.matches(status, reason) for r in rules if r.tier in (ANY, first))


@dataclass
class Code:
    key: str
    batch: str
    level: int
    state: str = "allocated"
    parent: str | None = None
    children: set[str] = field(default_factory=set)
    partial: bool = False
    lock: str = NORMAL
    status: str = "none"
    last_us: int | None = 0
    """None while a write at the store's own time is pending: taken from the store afterwards."""


@dataclass
class Batch:
    batch_id: str
    line: str
    state: str = OPEN
    lock: str = NORMAL
    status: str = "none"
    last_us: int | None = 0


@dataclass(frozen=True)
class Req:
    """One write request as a caller sends it (codes in the caller's spellings)."""

    op: str
    """allocate, report, aggregate, disaggregate, reparent, replace, marks or close."""
    args: dict[str, Any]
    lines: frozenset[str] | None = None
    """The lines the caller may change (None: any, e.g. admin)."""
    key: str | None = None
    time_us: int | None = None
    client: str = ""
    """Over gRPC: which client sends it."""

    def body(self, canon: Any = canonical) -> str:
        """What tells a retry from another request (codes as keys with ``canon``)."""
        a, t = self.args, self.time_us
        if self.op == "allocate":
            parts: list[Any] = [a["batch"], a["level"], a["count"]]
        elif self.op == "report":
            groups = [[kind, [canon(c) for c in codes]] for kind, codes in a["groups"]]
            parts = [[g for g in groups if g[1]] or groups[:1], t]
        elif self.op in ("aggregate", "reparent"):
            parts = [canon(a["parent"]), [canon(c) for c in a["children"]], a["partial"], t]
        elif self.op == "disaggregate":
            kids = a["children"]
            parts = [canon(a["parent"]), None if kids is None else [canon(c) for c in kids], t]
        elif self.op == "replace":
            parts = [canon(a["parent"]), canon(a["old"]), canon(a["new"]), a["to"], t]
        elif self.op == "marks":
            codes = a["codes"]
            keys = None if codes is None else [canon(c) for c in codes]
            parts = [a["what"], a["value"], keys, a["batch"], a["reason"], t]
        else:
            parts = [a["batch"], a["override"], t]
        return json.dumps([self.op, *parts])


@dataclass(frozen=True)
class Answer:
    """What the store answered to an accepted write, as far as the model checks it."""

    event_seq: int
    codes: tuple[str, ...] = ()
    parent: str | None = None
    replayed: bool | None = False
    """None: the answer does not say (a close's report)."""


@dataclass
class Prediction:
    rules: list[Rule] = field(default_factory=list)
    """The rules the request breaks (empty: it must be accepted)."""
    tolerated: list[Rule] = field(default_factory=list)
    """Refusals that are fine although the request breaks no rule (nothing must change then)."""
    after: Model | None = None
    """The model after the request, if accepted (times the store picks still None)."""
    touched: set[str] = field(default_factory=set)
    """Codes the write changes: their last event is the write's."""
    touched_batches: set[str] = field(default_factory=set)
    before_us: dict[str, int] = field(default_factory=dict)
    """Last event times before the write of what it touches (codes and ``batch:<id>``)."""
    replay: Answer | None = None
    """A retry of a request remembered under its idempotency key: the first answer."""
    codes: set[str] | None = None
    """The codes the answer must name (None: not checked)."""
    parent: str | None = None

    def broken(self, r: Rule) -> None:
        if r not in self.rules:
            self.rules.append(r)

    @property
    def refused(self) -> bool:
        return bool(self.rules)


class Model:
    """The store as the tests expect it to be."""

    def __init__(self, ratios: dict[int, int], mixed_pallets: bool = True) -> None:
        self.ratio = ratios
        self.top = max(ratios)
        self.mixed = mixed_pallets
        self.codes: dict[str, Code] = {}
        self.batches: dict[str, Batch] = {}
        self.answers: dict[tuple[frozenset[str] | None, str], tuple[str, Req, Answer]] = {}
        """(lines, idempotency key) -> (body, request, first answer) of each accepted request. A
        caller limited to lines has its own keys for each set of lines (one line can neither take
        another's keys nor probe which it has used); callers of any line share theirs."""

    def copy(self) -> Model:
        other = Model.__new__(Model)
        other.ratio, other.top, other.mixed = self.ratio, self.top, self.mixed
        other.codes = {k: replace(c, children=set(c.children)) for k, c in self.codes.items()}
        other.batches = {k: replace(b) for k, b in self.batches.items()}
        other.answers = dict(self.answers)
        return other

    # --- reading ----------------------------------------------------------------------------------

    def line_of(self, key: str) -> str:
        return self.batches[self.codes[key].batch].line

    def lock_of(self, c: Code) -> str:
        return c.lock if c.lock != NORMAL else self.batches[c.batch].lock

    def is_open(self, c: Code) -> bool:
        return self.batches[c.batch].state == OPEN

    def of_batch(self, batch_id: str) -> list[Code]:
        return [c for c in self.codes.values() if c.batch == batch_id]

    def discrepancies(self, batch_id: str) -> list[str]:
        """Why a batch may not close without an override (SPEC §4 reconciliation)."""
        found = []
        for c in self.of_batch(batch_id):
            if c.state == "encoded":
                found.append(f"{c.key} printed, never verified")
            if c.level < self.top and c.parent is None and c.state in ("commissioned", "released"):
                found.append(f"{c.key} loose")
            if c.level > 1 and c.state in IN_USE:
                if not c.children:
                    found.append(f"{c.key} empty")
                elif len(c.children) < self.ratio[c.level] and not c.partial:
                    found.append(f"{c.key} partial, not declared")
        return found

    def releasable(self, batch_id: str) -> list[Code]:
        return [
            c
            for c in self.of_batch(batch_id)
            if (c.state == "aggregated" or (c.state == "commissioned" and c.level == self.top and c.children))
            and self.lock_of(c) == NORMAL
        ]

    # --- predicting -------------------------------------------------------------------------------

    def predict(self, req: Req) -> Prediction:
        """What ``req`` should do to the store as the model has it."""
        p = Prediction()
        m = self.copy()
        t = req.time_us
        if t is not None and not MIN_TIME_US <= t <= now_us() + MAX_AHEAD_US:
            p.broken(shape("BAD_TIME"))
        getattr(m, "_" + req.op)(p, req, req.args, t)
        if req.key is not None and (req.lines, req.key) in self.answers:
            body, _, answer = self.answers[req.lines, req.key]
            if req.body() != body:
                p.broken(KEY_REUSED)
            else:  # a retry, perhaps in other spellings: the first answer, nothing written
                p.rules, p.tolerated, p.replay = [], [], answer
        if not p.refused and p.replay is None:
            p.after = m
        return p

    def _times(self, p: Prediction, t: int | None, codes: Iterable[Code]) -> None:
        """The write changes ``codes`` at ``t``: a time sent may not be before their last events."""
        for c in codes:
            if c.last_us is None:  # changed earlier in this write (an earlier group), at its time
                continue
            if c.key not in p.touched:
                p.before_us[c.key] = c.last_us
                p.touched.add(c.key)
            if t is not None and c.last_us > t:
                p.broken(BACKWARDS)

    def _forbid(self, p: Prediction, lines: frozenset[str] | None, keys: Iterable[str]) -> None:
        if lines is not None and any(self.line_of(k) not in lines for k in keys if k in self.codes):
            p.broken(FORBIDDEN)

    def _keys(self, p: Prediction, texts: Sequence[str], dup: str) -> list[str]:
        keys = [canonical(x) for x in texts]
        if len(set(keys)) != len(keys):
            p.broken(shape(dup))
        if any(k not in self.codes for k in keys):
            p.broken(UNKNOWN)
        return keys

    def _allocate(self, p: Prediction, req: Req, a: dict[str, Any], t: int | None) -> None:
        batch = self.batches[a["batch"]]
        if batch.state != OPEN:
            p.broken(rule("BATCH_NOT_OPEN"))
        if not 1 <= a["count"] <= 100_000:
            p.broken(Rule(ANY, "INVALID_ARGUMENT", ("BAD_COUNT",)))
        if req.lines is not None and batch.line not in req.lines:
            p.broken(FORBIDDEN)

    def add_allocated(self, batch_id: str, level: int, codes: Sequence[str], times: Sequence[int]) -> None:
        for key, at in zip(codes, times, strict=True):
            assert key not in self.codes, f"allocated {key} twice"
            self.codes[key] = Code(key, batch_id, level, last_us=at)

    def _report(self, p: Prediction, req: Req, a: dict[str, Any], t: int | None) -> None:
        groups = [(kind, self._keys(p, codes, "DUPLICATE_CODE")) for kind, codes in a["groups"]]
        groups = [g for g in groups if g[1]] or groups[:1]
        if not groups or not groups[0][1]:
            p.broken(Rule(ANY, "INVALID_ARGUMENT", ("NO_CODES",)))
            return
        every = [k for _, keys in groups for k in keys]
        self._forbid(p, req.lines, every)
        p.codes = set(every)
        for kind, keys in groups:  # in order: a code may be printed, then verified
            codes = [self.codes[k] for k in dict.fromkeys(keys) if k in self.codes]
            allowed_from, target = TRANSITIONS[kind]
            group = Prediction()
            if any(not self.is_open(c) for c in codes):
                group.broken(rule("BATCH_NOT_OPEN"))
            if any(c.state not in allowed_from for c in codes):
                group.broken(rule("ILLEGAL_TRANSITION"))
            if target in OUT_OF_SERVICE and any(c.children for c in codes):
                group.broken(EMPTY_FIRST)
            self._times(group, t, codes)
            for k in group.touched - p.touched:
                p.before_us[k] = group.before_us[k]
            p.touched |= group.touched
            if group.refused:  # the groups after it are never looked at
                for r in group.rules:
                    p.broken(r)
                return
            for c in codes:
                c.state, c.last_us = target, t

    def _aggregate(
        self, p: Prediction, req: Req, a: dict[str, Any], t: int | None, move: bool = False
    ) -> None:
        if not a["children"]:
            p.broken(Rule(ANY, "INVALID_ARGUMENT", ("NO_CHILDREN",)))
        pkey = canonical(a["parent"])
        keys = self._keys(p, a["children"], "DUPLICATE_CHILD")
        if pkey in keys:
            p.broken(shape("PARENT_IN_CHILDREN"))
        if pkey not in self.codes:
            p.broken(UNKNOWN)
            return
        parent = self.codes[pkey]
        kids = [self.codes[k] for k in dict.fromkeys(keys) if k in self.codes and k != pkey]
        old = sorted({c.parent for c in kids if move and c.parent is not None and c.parent != pkey})
        self._forbid(p, req.lines, [pkey, *keys, *old])
        p.codes, p.parent = set(keys), pkey
        if not self.is_open(parent):
            p.broken(rule("BATCH_NOT_OPEN"))
        if parent.state not in PARENT_STATES:
            p.broken(rule("PARENT_NOT_COMMISSIONED"))
        if self.lock_of(parent) != NORMAL:
            p.broken(rule("CODE_LOCKED"))
        if parent.level == 1:
            p.broken(rule("LEVEL_MISMATCH"))
        self._child_rules(p, parent, kids, move)
        ratio = self.ratio[parent.level]
        total = len(parent.children) + len(keys)
        if total > ratio:
            p.broken(rule("OVER_PACK_RATIO"))
        if total < ratio and not a["partial"]:
            p.broken(rule("PARTIAL_NOT_DECLARED"))
        olds = [self.codes[o] for o in old]
        if any(not self.is_open(o) for o in olds):
            p.broken(rule("BATCH_NOT_OPEN"))
        self._times(p, t, [parent, *kids, *olds])
        if p.refused:
            return
        for o in olds:
            o.children -= {c.key for c in kids}
            o.partial = o.partial and bool(o.children)
            o.last_us = t
        for c in kids:
            c.state, c.parent, c.last_us = "aggregated", pkey, t
        parent.children |= {c.key for c in kids}
        parent.partial = a["partial"] and len(parent.children) < ratio
        parent.last_us = t

    def _child_rules(self, p: Prediction, parent: Code, kids: list[Code], move: bool) -> None:
        """SPEC §4: what a code must be to go into ``parent``."""
        if any(not self.is_open(c) for c in kids):
            p.broken(rule("BATCH_NOT_OPEN"))
        if any(c.parent == parent.key or (c.parent is not None and not move) for c in kids):
            p.broken(rule("CHILD_ALREADY_AGGREGATED"))
        for c in kids:
            if c.state in OUT_OF_SERVICE:
                p.broken(rule(OUT_OF_SERVICE[c.state]))
            if c.state not in ({"commissioned", "aggregated"} if move else {"commissioned"}):
                p.broken(rule("CHILD_NOT_COMMISSIONED"))
            if self.lock_of(c) != NORMAL:
                p.broken(rule("CODE_LOCKED"))
            if c.level != parent.level - 1:
                p.broken(rule("LEVEL_MISMATCH"))
            if c.batch != parent.batch and not (parent.level == self.top and self.mixed):
                p.broken(rule("BATCH_MISMATCH"))

    def _reparent(self, p: Prediction, req: Req, a: dict[str, Any], t: int | None) -> None:
        self._aggregate(p, req, a, t, move=True)

    def _disaggregate(self, p: Prediction, req: Req, a: dict[str, Any], t: int | None) -> None:
        pkey = canonical(a["parent"])
        named = a["children"]
        keys: list[str] = []
        if named is not None:
            if not named:
                p.broken(Rule(ANY, "INVALID_ARGUMENT", ("NO_CHILDREN",)))
            keys = self._keys(p, named, "DUPLICATE_CHILD")
            if pkey in keys:
                p.broken(shape("PARENT_IN_CHILDREN"))
        if pkey not in self.codes:
            p.broken(UNKNOWN)
            return
        parent = self.codes[pkey]
        gone = (
            sorted(parent.children) if named is None else [k for k in dict.fromkeys(keys) if k in self.codes]
        )
        kids = [self.codes[k] for k in gone]
        p.parent = pkey
        if named is not None:
            p.codes = set(keys)
        if not self.is_open(parent):
            p.broken(rule("BATCH_NOT_OPEN"))
        if any(c.parent != pkey for c in kids):
            p.broken(rule("NOT_A_CHILD"))
        if any(not self.is_open(c) for c in kids):  # a closed batch's codes stay as they were closed
            p.broken(rule("BATCH_NOT_OPEN"))
        if named is None and not kids:  # an empty parent: nothing to change
            if req.lines is not None and self.line_of(pkey) not in req.lines:
                p.tolerated.append(FORBIDDEN)
            p.codes = set()
            return
        self._forbid(p, req.lines, [pkey, *gone])
        self._times(p, t, [parent, *kids])
        if p.refused:
            return
        for c in kids:
            c.state, c.parent, c.last_us = "commissioned", None, t
        parent.children -= set(gone)
        parent.partial = parent.partial and bool(parent.children)
        parent.last_us = t
        p.codes = set(gone)

    def _replace(self, p: Prediction, req: Req, a: dict[str, Any], t: int | None) -> None:
        if a["to"] not in REPLACED_TO:
            p.broken(Rule(ANY, "INVALID_ARGUMENT", ("BAD_STATE",)))
        pkey, okey, nkey = (canonical(a[k]) for k in ("parent", "old", "new"))
        if okey == nkey:
            p.broken(shape("DUPLICATE_CHILD", "DUPLICATE_CODE"))
        if pkey in (okey, nkey):
            p.broken(shape("PARENT_IN_CHILDREN", "DUPLICATE_CHILD", "DUPLICATE_CODE"))
        if any(k not in self.codes for k in (pkey, okey, nkey)):
            p.broken(UNKNOWN)
            return
        self._forbid(p, req.lines, [pkey, okey, nkey])
        parent, old, new = (self.codes[k] for k in (pkey, okey, nkey))
        p.codes, p.parent = {nkey}, pkey
        if not self.is_open(parent):
            p.broken(rule("BATCH_NOT_OPEN"))
        if old.parent != pkey:
            p.broken(rule("NOT_A_CHILD"))
        if not self.is_open(old):  # a closed batch's codes stay as they were closed
            p.broken(rule("BATCH_NOT_OPEN"))
        if parent.state not in PARENT_STATES:
            p.broken(rule("PARENT_NOT_COMMISSIONED"))
        if self.lock_of(parent) != NORMAL:
            p.broken(rule("CODE_LOCKED"))
        if okey != nkey and pkey not in (okey, nkey):
            self._child_rules(p, parent, [new], move=False)
        if a["to"] in OUT_OF_SERVICE and old.children:
            p.broken(EMPTY_FIRST)
        self._times(p, t, [parent, old, new])
        if p.refused:
            return
        old.state, old.parent, old.last_us = a["to"], None, t
        new.state, new.parent, new.last_us = "aggregated", pkey, t
        parent.children = (parent.children - {okey}) | {nkey}
        parent.last_us = t  # a rework keeps the parent as declared (partial or not)

    def _marks(self, p: Prediction, req: Req, a: dict[str, Any], t: int | None) -> None:
        what, value = a["what"], a["value"]
        if a["codes"] is None:
            batch = self.batches.get(a["batch"])
            if batch is None:
                p.broken(UNKNOWN)
                return
            if req.lines is not None and batch.line not in req.lines:
                p.broken(FORBIDDEN)
            self._batch_time(p, t, batch)
            if not p.refused:
                setattr(batch, what, value)
                batch.last_us = t
            return
        if not a["codes"]:
            p.broken(Rule(ANY, "INVALID_ARGUMENT", ("NO_CODES",)))
        keys = self._keys(p, a["codes"], "DUPLICATE_CODE")
        codes = [self.codes[k] for k in dict.fromkeys(keys) if k in self.codes]
        self._forbid(p, req.lines, keys)
        p.codes = set(keys)
        self._times(p, t, codes)
        if p.refused:
            return
        for c in codes:
            setattr(c, what, value)
            c.last_us = t

    def _batch_time(self, p: Prediction, t: int | None, batch: Batch) -> None:
        assert batch.last_us is not None
        p.before_us["batch:" + batch.batch_id] = batch.last_us
        p.touched_batches.add(batch.batch_id)
        if t is not None and batch.last_us > t:
            p.broken(BACKWARDS)

    def _close(self, p: Prediction, req: Req, a: dict[str, Any], t: int | None) -> None:
        batch = self.batches.get(a["batch"])
        if batch is None:
            p.broken(UNKNOWN)
            return
        if req.lines is not None and batch.line not in req.lines:
            p.broken(FORBIDDEN)
        if batch.state != OPEN:
            p.broken(rule("BATCH_NOT_OPEN"))
            return
        override = a["override"]
        if self.discrepancies(batch.batch_id) and not (override and override.strip()):
            p.broken(rule("BATCH_DISCREPANCY"))
        released = self.releasable(batch.batch_id)
        self._times(p, t, released)
        self._batch_time(p, t, batch)
        if p.refused:
            return
        for c in released:
            c.state, c.last_us = "released", t
        batch.state, batch.last_us = CLOSED, t
