"""PrintService.PrintJob: a printer that says what it printed — codes sent ahead up to its queue
depth, acknowledged codes ENCODED, dropped and unacknowledged ones reported and never sent again, a
reconnect resumed with no duplicate and no gap (a real server on port 0, a real channel)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import grpc
import pytest

from linecode.store import State
from linecode.v1 import print_pb2

from .conftest import Client


class Printer:
    """A printer's side of a job: what it sends goes through a queue, what it gets is read in turn."""

    def __init__(self, client: Client, start: print_pb2.JobStart) -> None:
        self.out: queue.Queue[print_pb2.PrinterMessage | None] = queue.Queue()
        self.out.put(print_pb2.PrinterMessage(start=start))
        self.call = client.printer.PrintJob(iter(self.out.get, None), timeout=60)
        self.answers: queue.Queue[print_pb2.JobMessage | BaseException] = queue.Queue()
        self.recorded: set[int] = set()
        """Positions the server said it recorded printed."""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self.answers.put(message)
        except BaseException as exc:  # the call's end, or its error
            self.answers.put(exc)

    def next(self, timeout: float = 10.0) -> print_pb2.JobMessage:
        got = self.answers.get(timeout=timeout)
        if isinstance(got, BaseException):
            raise got
        return got

    def nothing_for(self, seconds: float) -> bool:
        try:
            self.answers.get(timeout=seconds)
        except queue.Empty:
            return True
        return False

    def printed(self, *positions: int) -> None:
        self.out.put(print_pb2.PrinterMessage(printed=print_pb2.PrintedCodes(positions=positions)))

    def dropped(self, *positions: int) -> None:
        self.out.put(
            print_pb2.PrinterMessage(dropped=print_pb2.DroppedCodes(positions=positions, reason="jam"))
        )

    def done(self) -> print_pb2.JobSummary:
        self.out.put(print_pb2.PrinterMessage(done=print_pb2.JobDone()))
        self.out.put(None)
        while True:
            message = self.next()
            if message.WhichOneof("message") == "recorded":
                self.recorded.update(message.recorded.positions)
            if message.WhichOneof("message") == "summary":
                return message.summary


def _start(job: str, count: int, depth: int, **more: object) -> print_pb2.JobStart:
    return print_pb2.JobStart(
        job_id=job, printer="P1", batch_id="B1", level="unit", count=count, queue_depth=depth, **more
    )


def _codes(printer: Printer, n: int) -> Iterator[print_pb2.JobCode]:
    """The next ``n`` codes the server sends (its notes of what it recorded printed, kept aside)."""
    while n:
        message = printer.next()
        if message.WhichOneof("message") == "recorded":
            printer.recorded.update(message.recorded.positions)
            continue
        assert message.WhichOneof("message") == "code", message
        n -= 1
        yield message.code


def test_a_job_sends_ahead_to_the_queue_depth_and_only_printed_codes_become_encoded(client: Client) -> None:
    printer = Printer(client, _start("J1", 40, 8, images=True))
    started = printer.next().started
    assert (started.count, started.next_position) == (40, 0)
    first = list(_codes(printer, 8))
    assert [c.position for c in first] == list(range(8))
    assert all(c.image.data and c.data == c.code for c in first)  # nmpa20: the data is the code
    assert printer.nothing_for(0.5), "more than the queue depth was sent unacknowledged"
    printer.printed(*range(6))
    printer.dropped(6)
    later = list(_codes(printer, 7))  # 7 settled: 7 more
    assert [c.position for c in later] == list(range(8, 15))
    printer.printed(7, *range(8, 15))
    rest = []
    for code in _codes(printer, 25):  # printed as they come, but the last two: sent, never acknowledged
        rest.append(code)
        if code.position < 38:
            printer.printed(code.position)
    summary = printer.done()
    codes = [c.code for c in first + later + rest]
    assert summary.printed == 37 and list(summary.dropped) == [codes[6]]
    assert printer.recorded == set(range(38)) - {6}  # each printed code's record confirmed
    assert set(summary.not_printed) == {codes[6], codes[38], codes[39]}
    states = {c: client.store.record(c).state for c in codes}
    assert [c for c, s in states.items() if s is State.ENCODED] == [
        c for c in codes if c not in summary.not_printed
    ]
    printed = [e for e in client.store.events("B1") if e.kind.label == "encoded"]
    assert {e.actor for e in printed} == {"P1"}


def test_a_printer_that_reconnects_resumes_with_no_duplicate_and_no_gap(client: Client) -> None:
    printer = Printer(client, _start("J2", 30, 10))
    printer.next()
    first = list(_codes(printer, 10))
    printer.printed(*range(6))
    printer.call.cancel()  # the cable is pulled: positions 6.. are in the printer's hands
    # it printed 0..8; it cannot know which acknowledgements arrived, so it names them all again
    again = Printer(client, _start("J2", 30, 10, resume=True, next_position=9, printed=range(9)))
    started = again.next().started
    assert started.next_position == 9
    resumed = []
    for code in _codes(again, 21):  # positions 9 .. 29, each printed as it comes
        resumed.append(code)
        again.printed(code.position)
    assert [c.position for c in resumed] == list(range(9, 30))  # none twice, none skipped
    assert resumed[0].code == first[9].code  # the same job's codes
    summary = again.done()
    assert summary.printed == 30 and not summary.not_printed
    encoded = [e for e in client.store.events("B1") if e.kind.label == "encoded"]
    named = [c for e in encoded for c in e.codes]
    assert len(named) == len(set(named)) == 30  # each printed code ENCODED once


def test_acknowledging_what_was_never_sent_is_refused(client: Client) -> None:
    printer = Printer(client, _start("J3", 10, 2))
    printer.next()
    list(_codes(printer, 2))
    printer.printed(5)
    with pytest.raises(grpc.RpcError) as refused:
        while True:
            printer.next()
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "NOT_SENT" in str(refused.value.trailing_metadata())
    assert all(client.store.record(c).state is State.ALLOCATED for c in client.store.codes("B1", "unit"))


def test_a_pallet_label_through_the_print_service(client: Client) -> None:
    """RenderLabel: the ZPL a label printer takes (drawing the symbols itself), and a PNG preview of the
    same label whose symbols decode to the pallet's SSCC."""
    import zxingcpp

    from linecode.render import formats

    (pallet,) = client.codes("pallet", 1)
    zpl = client.printer.RenderLabel(print_pb2.LabelRequest(code=pallet, level="pallet"))
    assert zpl.content_type == "application/zpl" and zpl.data.startswith(b"^XA") and b"^BC" in zpl.data
    png = client.printer.RenderLabel(
        print_pb2.LabelRequest(code=pallet, level="pallet", format=print_pb2.LABEL_FORMAT_PNG)
    )
    image = (~formats.read_png(png.data)).astype("uint8") * 255  # white paper, black bars
    texts = {r.text for r in zxingcpp.read_barcodes(image)}
    assert pallet[4:] in "".join(texts), texts
    with pytest.raises(grpc.RpcError) as wrong:
        client.printer.RenderLabel(print_pb2.LabelRequest(code=pallet, level="pallet", layout="nonsense = 1"))
    assert wrong.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_a_job_prints_on_one_connection_at_a_time(client: Client) -> None:
    """Its codes never go to two printers: a second start of an open job is refused; a resume (the
    printer back before the server noticed it gone) takes the job over from the old connection."""
    first = Printer(client, _start("J4", 20, 4))
    first.next()
    sent = list(_codes(first, 4))
    second = Printer(client, _start("J4", 20, 4))
    with pytest.raises(grpc.RpcError) as refused:
        second.next()
    assert refused.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert "JOB_IN_PROGRESS" in str(refused.value.trailing_metadata())
    again = Printer(client, _start("J4", 20, 4, resume=True, next_position=4, printed=range(4)))
    assert again.next().started.next_position == 4
    for code in _codes(again, 16):
        again.printed(code.position)
    assert again.done().printed == 20
    leftover = []
    while True:  # the old connection got nothing more (its stream ends)
        try:
            message = first.answers.get(timeout=2)
        except queue.Empty:
            break
        if isinstance(message, BaseException):
            break
        leftover.append(message.WhichOneof("message"))
    assert "code" not in leftover and "summary" not in leftover, leftover
    assert {c.code for c in sent} <= {c for c in client.store.codes("B1", "unit")}


def test_a_job_that_ran_is_not_sent_again_and_a_resume_claims_no_more_than_was_sent(client: Client) -> None:
    printer = Printer(client, _start("J5", 4, 4))
    printer.next()
    codes = list(_codes(printer, 4))
    printer.printed(0)
    printer.dropped(1)
    assert printer.done().printed == 1
    for start in (
        _start("J5", 4, 4),  # the same job again, from the start: its codes would go out twice
        _start("J6", 4, 4, resume=True, next_position=3, printed=[0, 1, 2]),  # a job that never ran
    ):
        again = Printer(client, start)
        with pytest.raises(grpc.RpcError) as refused:
            again.next()
        assert "JOB_IN_PROGRESS" in str(refused.value.trailing_metadata()), start
    ended = Printer(client, _start("J5", 4, 4, resume=True, next_position=4, printed=[0, 1, 2, 3]))
    with pytest.raises(grpc.RpcError) as refused:  # a job its printer ended stays ended
        ended.next()
    assert "JOB_IN_PROGRESS" in str(refused.value.trailing_metadata())
    live = Printer(client, _start("J7", 10, 2))
    live.next()
    list(_codes(live, 2))
    live.call.cancel()
    time.sleep(0.3)
    past = Printer(client, _start("J7", 10, 2, resume=True, next_position=5, printed=range(5)))
    with pytest.raises(grpc.RpcError) as refused:  # positions 2.. were never sent
        past.next()
    assert "NOT_SENT" in str(refused.value.trailing_metadata())
    assert [client.store.record(c.code).state for c in codes].count(State.ENCODED) == 1


def test_a_layout_nested_too_deep_is_refused_cleanly(client: Client) -> None:
    (pallet,) = client.codes("pallet", 1)
    deep = "field = " + "[" * 3000 + "]" * 3000
    with pytest.raises(grpc.RpcError) as refused:
        client.printer.RenderLabel(print_pb2.LabelRequest(code=pallet, level="pallet", layout=deep))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "BAD_LAYOUT" in str(
        refused.value.trailing_metadata()
    )
