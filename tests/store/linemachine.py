"""The rules both model-based tests share: a Hypothesis state machine that sends random write
requests (most of them sensible, many not), predicts each with ``linemodel.Model``, and checks the
store against the model after every step. Subclasses say how a request reaches the store (the
``Store`` API directly, or gRPC with mutual-TLS roles) and who may send it.

Run lengths: ``settings_for`` keeps CI runs short; ``LINECODE_SOAK_EXAMPLES=N`` (and optionally
``LINECODE_SOAK_STEPS``, default 100) runs N examples of each machine instead, with Hypothesis'
example database in ``.hypothesis/`` (not in git) so a failure found once is tried first next time.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from linecode.store import CodeRule, Level, Store
from linecode.store.replay import differences
from tests.factories import LEVELS

from .conftest import snapshot
from .linemodel import (
    EVENTS,
    LOCKS,
    PARENT_STATES,
    REPLACED_TO,
    STATUSES,
    TRANSITIONS,
    Answer,
    Batch,
    Model,
    Prediction,
    Req,
    allowed,
    canonical,
    now_us,
    spellings,
)

ROOT = Path(__file__).resolve().parents[2]
LINES = ("L1", "L2")
PRODUCT_ID = "mixed"
LEVEL_SPECS = {lv.name: lv for lv in LEVELS}
"""The test product's levels by name (the machine's product takes its own pack ratios)."""


def settings_for(examples: int, steps: int) -> settings:
    """CI: ``examples`` runs of ``steps`` steps, no example database, no shrinking. Soak: as many examples as
    ``LINECODE_SOAK_EXAMPLES`` says, ``LINECODE_SOAK_STEPS`` steps (default 100) each."""
    common: dict[str, Any] = {
        "deadline": None,
        "suppress_health_check": [
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,  # a line's life needs many steps; seen in a gRPC soak
        ],
    }
    soak = int(os.environ.get("LINECODE_SOAK_EXAMPLES", "0") or 0)
    if soak:
        return settings(
            max_examples=soak,
            stateful_step_count=int(os.environ.get("LINECODE_SOAK_STEPS", "100")),
            database=DirectoryBasedExampleDatabase(str(ROOT / ".hypothesis" / "examples")),
            print_blob=True,
            **common,
        )
    # No shrinking in CI: a failing run of this machine takes minutes to shrink (Hypothesis gives up
    # after five). Each failure message names the request, what was expected and the requests
    # before it; a soak run shrinks.
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        **common,
    )


class Refused(Exception):
    """The store (or server) refused a request: its gRPC status name, reason and message."""

    def __init__(self, status: str, reason: str, message: str, codes: Iterable[str] = ()) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message
        self.codes = tuple(codes)
        """The offending codes the refusal names."""


def named_keys(req: Req) -> set[str]:
    """The keys of every code a request names (its other strings are not codes)."""
    texts: list[str] = []
    for value in req.args.values():
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, str):
                    texts.append(item)
                elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[1], list):
                    texts.extend(item[1])  # a report's (kind, codes)
    return {canonical(t) for t in texts}


def check_store(store: Store, model: Model) -> None:
    """Everything the store holds agrees with itself and with the model."""
    records = {r.code: r for b in store.batches() for r in store.records(b.batch_id)}
    # The per-state counters equal a count of the records.
    counted = Counter((r.batch_id, r.level, r.state.label) for r in records.values())
    counters = Counter({(c.batch_id, c.level, c.state.label): c.count for c in store.counts()})
    assert counters == counted, f"counters {dict(counters)} != records {dict(counted)}"
    # Parent and children agree both ways.
    for key, r in records.items():
        kids = store.children_of(key) if r.children else []
        assert len(kids) == len(set(kids)) == r.children, f"{key}: children {kids}, count {r.children}"
        for kid in kids:
            assert records[kid].parent == key, (
                f"{kid} is a child of {key}, but its parent is {records[kid].parent}"
            )
        if r.parent is not None:
            assert key in store.children_of(r.parent), (
                f"{key} names parent {r.parent}, which does not hold it"
            )
    # The records equal the model.
    assert set(records) == set(model.codes), (
        f"codes only in the store: {sorted(set(records) - set(model.codes))}, "
        f"only in the model: {sorted(set(model.codes) - set(records))}"
    )
    for key, m in model.codes.items():
        r = records[key]
        got = (
            r.batch_id,
            r.level,
            r.state.label,
            r.parent,
            r.children,
            r.partial,
            r.lock.label,
            r.status.label,
        )
        want = (m.batch, m.level, m.state, m.parent, len(m.children), m.partial, m.lock, m.status)
        assert got == want, f"{key}: store {got} != model {want}"
        assert r.last_event_us == m.last_us, f"{key}: last event {r.last_event_us} != model {m.last_us}"
        if m.children:
            assert set(store.children_of(key)) == m.children, f"{key}: children differ from the model"
    for b in store.batches():
        mb = model.batches[b.batch_id]
        got_b = (b.line, b.state.label, b.lock.label, b.status.label, b.last_event_us)
        want_b = (mb.line, mb.state, mb.lock, mb.status, mb.last_us)
        assert got_b == want_b, f"batch {b.batch_id}: store {got_b} != model {want_b}"
    # A code has a record of its own once something happened to it; before, its allocation stands
    # for it (the records above include those answers).
    own = {code for code, _ in store._db.read(lambda tx: list(tx.own_rows()))}
    assert own <= set(model.codes), (
        f"records of codes the model never allocated: {sorted(own - set(model.codes))}"
    )
    changed = {
        key
        for key, m in model.codes.items()
        if (m.state, m.lock, m.status) != ("allocated", "normal", "none") or m.parent or m.children
    }
    assert changed <= own, f"changed codes without a record of their own: {sorted(changed - own)}"
    # The event log replays to the records.
    found = differences(store)
    assert not found, found


class LineMachine(RuleBasedStateMachine):
    """Random writes against a store through ``execute``, each predicted by the model."""

    CALLERS: Sequence[tuple[str, frozenset[str] | None]] = ()
    """(client, lines it may change) of every caller; lines None: any (admin)."""
    REPLACED_TO: Sequence[str] = REPLACED_TO
    EMPTY_MEANS_ALL = False
    """Whether a disaggregate naming no children takes all (gRPC) or is refused (the store API)."""

    def __init__(self) -> None:
        super().__init__()
        self.model = Model({1: 1})
        self.store: Store | None = None
        self._keys = itertools.count(1)
        self.history: list[str] = []
        """The requests so far and what became of them (shown when the store and model differ)."""

    # --- what subclasses provide --------------------------------------------------------------------

    def open(self, levels: list[Level]) -> Store:
        """A fresh store behind the way in, with the product (PRODUCT_ID of ``levels``, the top
        level allowing mixed pallets)."""
        raise NotImplementedError

    def create_batch(self, batch_id: str, line: str) -> None:
        raise NotImplementedError

    def execute(self, req: Req) -> Answer:
        """Send ``req``; its answer, or :class:`Refused`."""
        raise NotImplementedError

    def adjust(self, req: Req, p: Prediction) -> Prediction:
        """What the way in adds to the model's prediction (e.g. roles checked before a call runs)."""
        return p

    # --- running one request ------------------------------------------------------------------------

    @property
    def s(self) -> Store:
        assert self.store is not None
        return self.store

    def send(
        self, data: st.DataObject, op: str, args: dict[str, Any], caller: tuple[str, Any], **kw: Any
    ) -> None:
        """Draw what the way in adds to a request (``decorate``), then run it."""
        self.decorate(data, args)
        self.run(Req(op, args, caller[1], client=caller[0], **kw))

    def decorate(self, data: st.DataObject, args: dict[str, Any]) -> None:
        """Add what only the way in knows about to a request's arguments (none here)."""

    def context(self, req: Req) -> str:
        """The requests before ``req`` and the first one under its idempotency key, for messages."""
        first = self.model.answers.get((req.lines, req.key)) if req.key is not None else None
        lines = [*self.history[-3:], *([f"first under its key: {first[1]} -> {first[2]}"] if first else [])]
        return "\nafter:\n" + "\n".join(lines)

    def run(self, req: Req) -> Answer | None:
        p = self.adjust(req, self.model.predict(req))
        before = snapshot(self.s)
        try:
            answer = self.execute(req)
        except Refused as refused:
            event(f"{req.op}: {refused.status} {refused.reason}")
            self.history.append(f"{req} -> {refused.status} {refused.reason}")
            ok = allowed(p.rules, refused.status, refused.reason) or any(
                r.matches(refused.status, refused.reason) for r in p.tolerated
            )
            expected = " or ".join(map(str, p.rules)) if p.rules else "it to be accepted"
            assert ok, f"{req}\nrefused: {refused}\nexpected {expected}{self.context(req)}"
            if req.lines is not None:  # a line caller's refusal tells nothing of another line's codes
                named = named_keys(req)
                told = [
                    k
                    for k, c in self.model.codes.items()
                    if self.model.line_of(k) not in req.lines
                    and k not in named
                    and (k in refused.codes or k in refused.message or k[4:] in refused.message)
                ]
                assert not told, f"{req}\nrefused ({refused}) naming another line's codes {told}"
            assert snapshot(self.s) == before, f"{req}\nwas refused ({refused}), yet the store changed"
            return None
        event(f"{req.op}: {'replayed' if answer.replayed else 'accepted'}")
        self.history.append(f"{req} -> {answer}")
        assert not p.refused, (
            f"{req}\nwas accepted ({answer}), expected {' or '.join(map(str, p.rules))}{self.context(req)}"
        )
        if p.replay is not None:
            first = p.replay
            assert answer.replayed is not False, (
                f"{req}\nis a retry, answered as new: {answer}{self.context(req)}"
            )
            assert (answer.event_seq, answer.parent) == (first.event_seq, first.parent), (answer, first)
            if req.op == "allocate":
                assert answer.codes == first.codes, (answer, first)
            assert snapshot(self.s) == before, f"{req}\nwas replayed, yet the store changed"
            return answer
        assert answer.replayed is not True, f"{req}\nis new, answered as a retry: {answer}"
        after = p.after
        assert after is not None
        if p.codes is not None:
            assert set(answer.codes) == p.codes, f"{req}\nanswer names {answer.codes}, expected {p.codes}"
        if p.parent is not None:
            assert answer.parent == p.parent, f"{req}\nanswer names parent {answer.parent}"
        if answer.event_seq:
            assert answer.event_seq == self.s.last_event_seq(), f"{req}\nanswer's event is not the last"
        if req.op == "allocate":
            self.allocated(req, answer, after)
        self.sync_times(req, p, after)
        if req.key is not None:
            after.answers[req.lines, req.key] = (req.body(), req, answer)
        self.model = after
        return answer

    def allocated(self, req: Req, answer: Answer, after: Model) -> None:
        level = req.args["level"]
        spec = LEVEL_SPECS[self.names[level - 1]]
        assert len(answer.codes) == req.args["count"]
        for code in answer.codes:
            digits = code[4:] if spec.rule is CodeRule.SSCC else code
            assert canonical(code) == code and digits.startswith(spec.identifier), (
                f"allocated {code} at level {level}"
            )
        times = [self.s.record(code).last_event_us for code in answer.codes]
        after.add_allocated(req.args["batch"], level, answer.codes, times)

    def sync_times(self, req: Req, p: Prediction, after: Model) -> None:
        """The times the write gave what it changed: one time, the one sent if any, never before
        their last events."""
        seen = set()
        for key in p.touched:
            got = self.s.record(key).last_event_us
            assert got >= p.before_us[key], f"{req}\n{key}: time went back from {p.before_us[key]} to {got}"
            assert req.time_us is None or got == req.time_us, f"{req}\n{key}: time {got}, sent {req.time_us}"
            after.codes[key].last_us = got
            seen.add(got)
        for batch_id in p.touched_batches:
            got = self.s.batch(batch_id).last_event_us
            assert got >= p.before_us["batch:" + batch_id], f"{req}\nbatch {batch_id}: time went back"
            assert req.time_us is None or got == req.time_us
            after.batches[batch_id].last_us = got
            seen.add(got)
        assert len(seen) <= 1, f"{req}\none write, several times: {sorted(seen)}"

    # --- drawing requests ---------------------------------------------------------------------------

    def caller(self, data: st.DataObject, line: str | None = None) -> tuple[str, frozenset[str] | None]:
        """Any caller, or one that may change codes of ``line``."""
        callers = [c for c in self.CALLERS if line is None or c[1] is None or line in c[1]]
        return data.draw(st.sampled_from(callers), label="caller")

    def key(self, data: st.DataObject) -> str | None:
        roll = data.draw(st.integers(0, 9), label="key mode")
        if roll < 6:
            return None
        if roll == 9 and self.model.answers:  # this caller's or another's
            return data.draw(st.sampled_from(sorted({k for _, k in self.model.answers})), label="reused key")
        return f"key-{next(self._keys)}"

    def time(self, data: st.DataObject, keys: Sequence[str] = (), batch: Batch | None = None) -> int | None:
        mode = data.draw(st.sampled_from(["none"] * 5 + ["later", "same", "earlier", "bad"]), label="time")
        if mode == "none":
            return None
        known = [self.model.codes[k].last_us for k in keys if k in self.model.codes]
        known += [batch.last_us] if batch is not None else []
        base = max((t for t in known if t is not None), default=now_us())
        if mode == "later":
            return base + data.draw(st.integers(1, 2_000_000))
        if mode == "same":
            return base
        if mode == "earlier":
            return base - data.draw(st.integers(1, 5_000_000))
        return data.draw(st.sampled_from([now_us() // 1_000_000, now_us() + 3_600_000_000]), label="bad time")

    def spell(self, data: st.DataObject, key: str) -> str:
        text = spellings(key)[data.draw(st.integers(0, 2), label="spelling")]
        pads = ["", "", " ", "\t", "  \t"]
        return data.draw(st.sampled_from(pads)) + text + data.draw(st.sampled_from(pads))

    def unknown(self, data: st.DataObject) -> str:
        """A well-formed nmpa20 code this store never issued."""
        serial = data.draw(st.integers(0, 10**9 - 1), label="unknown serial")
        return f"8600001{serial:09d}0000"

    def texts(self, data: st.DataObject, keys: Sequence[str], parent: str | None = None) -> list[str]:
        """``keys`` spelled, sometimes with one named twice (in the same or another spelling), the
        parent among them or a code nobody issued."""
        texts = [self.spell(data, k) for k in keys]
        roll = data.draw(st.integers(0, 99), label="extra")
        if roll >= 88 and keys:
            at = data.draw(st.integers(0, len(texts)))
            texts.insert(at, self.spell(data, data.draw(st.sampled_from(list(keys)))))
        elif roll >= 84 and parent is not None:
            texts.append(self.spell(data, parent))
        elif roll >= 81:
            texts.append(self.unknown(data))
        return texts

    def pick(self, data: st.DataObject, pool: Sequence[str], lo: int, hi: int) -> list[str]:
        pool = sorted(set(pool))
        if not pool:
            return []
        n = data.draw(st.integers(min(lo, len(pool)), min(hi, len(pool))), label="how many")
        return data.draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n, unique=True))

    def codes(self, **where: Any) -> list[str]:
        """Keys of the model's codes matching ``where`` (level, states, open, loose, batch, unlocked)."""
        out = []
        for c in self.model.codes.values():
            if "level" in where and c.level != where["level"]:
                continue
            if "states" in where and c.state not in where["states"]:
                continue
            if where.get("open") and not self.model.is_open(c):
                continue
            if where.get("loose") and c.parent is not None:
                continue
            if "batch" in where and c.batch != where["batch"]:
                continue
            if where.get("unlocked") and self.model.lock_of(c) != "normal":
                continue
            out.append(c.key)
        return sorted(out)

    def any_parent(self, data: st.DataObject) -> str:
        """Any code, most often one above the unit level."""
        m = self.model
        above = sorted(k for k, c in m.codes.items() if c.level > 1)
        high = above and data.draw(st.integers(0, 9), label="above units") < 8
        return data.draw(st.sampled_from(above if high else sorted(m.codes)), label="parent")

    def fit(self, data: st.DataObject) -> bool:
        return data.draw(st.integers(0, 9), label="fit") < 7

    def room(self) -> list[str]:
        """Parents that take more children."""
        m = self.model
        return [
            k
            for k in self.codes(states=PARENT_STATES, open=True, unlocked=True)
            if m.codes[k].level > 1 and len(m.codes[k].children) < m.ratio[m.codes[k].level]
        ]

    def children_for(self, parent: str, states: frozenset[str] | set[str]) -> list[str]:
        p = self.model.codes[parent]
        same = {} if p.level == self.model.top else {"batch": p.batch}
        return self.codes(level=p.level - 1, states=states, open=True, unlocked=True, **same)

    # --- the rules ----------------------------------------------------------------------------------

    @initialize(
        depth=st.sampled_from([4, 3]),
        ratios=st.lists(st.integers(2, 3), min_size=3, max_size=3),
    )
    def start(self, depth: int, ratios: list[int]) -> None:
        self.names = ["unit", "bundle", "case", "pallet"] if depth == 4 else ["unit", "case", "pallet"]
        levels = [
            replace(LEVEL_SPECS[name], pack_ratio=1 if i == 0 else ratios[i - 1])
            for i, name in enumerate(self.names)
        ]
        self.model = Model({i + 1: lv.pack_ratio for i, lv in enumerate(levels)}, mixed_pallets=True)
        self.store = self.open(levels)
        for batch_id, line in (("B1", "L1"), ("B2", "L2")):
            self.new_batch_on(batch_id, line)
            admin = next(c for c in self.CALLERS if c[1] is None)
            for level in range(1, depth + 1):  # something to pack from the first step on
                args = {"batch": batch_id, "level": level, "count": 4 if level == 1 else 2}
                answer = self.run(Req("allocate", args, None, None, None, admin[0]))
                assert answer is not None
                codes = list(answer.codes)
                groups = [("printed", codes), ("verified", codes)]
                self.run(Req("report", {"groups": groups}, None, None, None, admin[0]))

    def new_batch_on(self, batch_id: str, line: str) -> None:
        self.create_batch(batch_id, line)
        self.model.batches[batch_id] = Batch(batch_id, line, last_us=self.s.batch(batch_id).last_event_us)

    @precondition(lambda self: len(self.model.batches) < 6)
    @rule(line=st.sampled_from(LINES))
    def new_batch(self, line: str) -> None:
        self.new_batch_on(f"B{len(self.model.batches) + 1}", line)

    def batch(self, data: st.DataObject, open_only: bool = False) -> str:
        pool = [b for b, v in self.model.batches.items() if v.state == "open" or not open_only]
        return data.draw(st.sampled_from(sorted(pool or self.model.batches)), label="batch")

    @rule(data=st.data())
    def allocate(self, data: st.DataObject) -> None:
        batch = self.batch(data)
        caller = self.caller(data)
        args = {
            "batch": batch,
            "level": data.draw(st.integers(1, self.model.top), label="level"),
            "count": data.draw(st.sampled_from([1, 2, 3, 0]), label="count"),
            "by_name": data.draw(st.booleans()),
        }
        self.send(data, "allocate", args, caller, key=self.key(data))

    @rule(data=st.data())
    def commission(self, data: st.DataObject) -> None:
        """Allocate, then print and verify (or fail) the codes in one report, as a line does."""
        batch = self.batch(data, open_only=True)
        client, lines = self.caller(data, self.model.batches[batch].line)
        level = data.draw(st.integers(1, self.model.top), label="level")
        count = data.draw(st.integers(1, 3), label="count")
        answer = self.run(
            Req("allocate", {"batch": batch, "level": level, "count": count}, lines, None, None, client)
        )
        if answer is None:
            return
        codes = list(answer.codes)
        second = data.draw(st.sampled_from(["verified", "verified", "verified", "verify_failed", None]))
        groups = [("printed", [self.spell(data, c) for c in codes])]
        if second is not None:
            groups.append((second, [self.spell(data, c) for c in codes]))
        self.run(Req("report", {"groups": groups}, lines, self.key(data), None, client))

    @precondition(lambda self: bool(self.model.codes))
    @rule(data=st.data())
    def report(self, data: st.DataObject) -> None:
        kind = data.draw(st.sampled_from(EVENTS), label="event")
        pool = self.codes(states=TRANSITIONS[kind][0]) if self.fit(data) else []
        keys = self.pick(data, pool or sorted(self.model.codes), 1, 4)
        groups = [(kind, self.texts(data, keys))]
        if (
            data.draw(st.integers(0, 3), label="groups") == 3
        ):  # a second group: the next step for the same codes, or others
            then = data.draw(st.sampled_from(EVENTS), label="then")
            more = keys if data.draw(st.booleans()) else self.pick(data, sorted(self.model.codes), 1, 3)
            groups.append((then, self.texts(data, more)))
        caller = self.caller(data)
        args = {"groups": groups, "single": len(groups) == 1 and data.draw(st.booleans())}
        named = [canonical(t) for _, texts in groups for t in texts]
        self.send(data, "report", args, caller, key=self.key(data), time_us=self.time(data, named))

    @precondition(lambda self: bool(self.model.codes))
    @rule(data=st.data())
    def aggregate(self, data: st.DataObject, move: bool = False) -> None:
        m = self.model
        states = {"commissioned", "aggregated"} if move else {"commissioned"}

        def candidates(parent: str) -> list[str]:
            pool = [k for k in self.children_for(parent, states) if m.codes[k].parent != parent]
            return pool if move else [k for k in pool if m.codes[k].parent is None]

        parents = [k for k in self.room() if candidates(k)]
        if self.fit(data) and parents:
            parent = data.draw(st.sampled_from(parents), label="parent")
            pool = candidates(parent)
            space = m.ratio[m.codes[parent].level] - len(m.codes[parent].children)
            keys = self.pick(data, pool, 1, space)
            total = len(m.codes[parent].children) + len(keys)
            partial = total < m.ratio[m.codes[parent].level]
            if data.draw(st.integers(0, 9), label="flip partial") == 9:
                partial = not partial
        else:
            parent = self.any_parent(data)
            keys = self.pick(data, [k for k in m.codes if k != parent], 1, 3)
            partial = data.draw(st.booleans())
        if data.draw(st.integers(0, 29), label="no children") == 29:
            keys = []
        caller = self.caller(data)
        args = {
            "parent": self.spell(data, parent),
            "children": self.texts(data, keys, parent),
            "partial": partial,
        }
        when = self.time(data, [parent, *keys])
        self.send(data, "reparent" if move else "aggregate", args, caller, key=self.key(data), time_us=when)

    @precondition(lambda self: bool(self.model.codes))
    @rule(data=st.data())
    def reparent(self, data: st.DataObject) -> None:
        self.aggregate(data, move=True)

    @precondition(lambda self: bool(self.model.codes))
    @rule(data=st.data())
    def disaggregate(self, data: st.DataObject) -> None:
        m = self.model
        full = [k for k, c in m.codes.items() if c.children]
        # Parents holding another line's codes (mixed pallets): emptied whole by a caller of the
        # parent's line alone, whose refusal must tell nothing of those codes.
        mixed = sorted(k for k in full if any(m.line_of(c) != m.line_of(k) for c in m.codes[k].children))
        if mixed and data.draw(st.integers(0, 2), label="mixed parent") == 0:
            parent = data.draw(st.sampled_from(mixed), label="parent")
            alone = [c for c in self.CALLERS if c[1] == frozenset({m.line_of(parent)})]
            if alone:
                args = {"parent": self.spell(data, parent), "children": None}
                when = self.time(data, [parent, *m.codes[parent].children])
                self.send(data, "disaggregate", args, alone[0], key=self.key(data), time_us=when)
                return
        fit = self.fit(data) and full
        parent = data.draw(st.sampled_from(sorted(full)), label="parent") if fit else self.any_parent(data)
        kids: list[str] | None = None
        if data.draw(st.integers(0, 9)) >= 4:
            pool = sorted(m.codes[parent].children) if fit else [k for k in m.codes if k != parent]
            kids = self.texts(data, self.pick(data, pool, 1, 3), parent)
        if kids == [] and self.EMPTY_MEANS_ALL:
            kids = None
        caller = self.caller(data)
        args = {"parent": self.spell(data, parent), "children": kids}
        when = self.time(data, [parent, *(canonical(k) for k in kids or [])])
        self.send(data, "disaggregate", args, caller, key=self.key(data), time_us=when)

    @precondition(lambda self: bool(self.model.codes))
    @rule(data=st.data())
    def replace(self, data: st.DataObject) -> None:
        m = self.model
        full = sorted(k for k, c in m.codes.items() if c.children)
        if self.fit(data) and full:
            parent = data.draw(st.sampled_from(full), label="parent")
            old = data.draw(st.sampled_from(sorted(m.codes[parent].children)), label="old child")
            pool = [k for k in self.children_for(parent, {"commissioned"}) if m.codes[k].parent is None]
            new = data.draw(st.sampled_from(pool), label="new child") if pool else old
        else:
            parent = self.any_parent(data)
            others = sorted(k for k in m.codes if k != parent) or [parent]
            old = data.draw(st.sampled_from(others), label="old child")
            new = data.draw(st.sampled_from([k for k in others if k != old] or others), label="new child")
        roll = data.draw(st.integers(0, 99), label="extra")
        new = old if roll >= 95 else parent if roll >= 92 else new
        to = data.draw(st.sampled_from(self.REPLACED_TO), label="old child to")
        if len(self.REPLACED_TO) > 1 and data.draw(st.integers(0, 49)) == 49:
            to = "sampled"  # not a state a replaced child may go to
        caller = self.caller(data)
        args = {
            "parent": self.spell(data, parent),
            "old": self.spell(data, old),
            "new": self.spell(data, new),
            "to": to,
        }
        self.send(
            data, "replace", args, caller, key=self.key(data), time_us=self.time(data, [parent, old, new])
        )

    @precondition(lambda self: bool(self.model.codes))
    @rule(data=st.data())
    def marks(self, data: st.DataObject) -> None:
        what = data.draw(st.sampled_from(["lock", "status"]))
        value = data.draw(st.sampled_from(LOCKS if what == "lock" else STATUSES), label=what)
        caller = self.caller(data)
        if data.draw(st.integers(0, 9)) < 7:
            keys = self.pick(data, sorted(self.model.codes), 1, 3)
            args = {
                "what": what,
                "value": value,
                "codes": self.texts(data, keys),
                "batch": None,
                "reason": "QA",
            }
            when = self.time(data, keys)
        else:
            batch = self.batch(data)
            args = {"what": what, "value": value, "codes": None, "batch": batch, "reason": "QA"}
            when = self.time(data, batch=self.model.batches[batch])
        self.send(data, "marks", args, caller, key=self.key(data), time_us=when)

    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        batch = self.batch(data)
        override = data.draw(st.sampled_from([None, None, None, "end of shift", " "]), label="override")
        caller = self.caller(data)
        released = [c.key for c in self.model.releasable(batch)]
        when = self.time(data, released, self.model.batches[batch])
        self.send(
            data, "close", {"batch": batch, "override": override}, caller, key=self.key(data), time_us=when
        )

    @precondition(lambda self: bool(self.model.answers))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        """The same request again with its idempotency key (a PLC retrying after a timeout)."""
        keys = sorted(self.model.answers, key=lambda k: (k[1], sorted(k[0] or ())))
        self.run(self.model.answers[data.draw(st.sampled_from(keys), label="retried key")][1])

    @invariant()
    def agrees(self) -> None:
        if self.store is not None:
            try:
                check_store(self.store, self.model)
            except AssertionError as error:
                raise AssertionError(f"{error}\nafter:\n" + "\n".join(self.history[-3:])) from None
