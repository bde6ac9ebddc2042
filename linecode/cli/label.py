"""``linecode label``: case and pallet labels (ZPL II or PNG previews) of a code or a whole batch level."""

from __future__ import annotations

import argparse
import contextlib
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from linecode.errors import InvalidArgument, NotFound
from linecode.reasons import Reason

if TYPE_CHECKING:
    from linecode.store import Store

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same batch gives the same archive


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    label = sub.add_parser(
        "label",
        help="case or pallet labels for label printers: ZPL II, or PNG previews",
        description="CODE_OR_BATCH is a code (one label) or a batch id (a label for every code of "
        "--level in the batch, in allocation order: ZPL concatenated into one file, PNG as one file "
        "per code in a .zip). Reads the data dir read-only, so it works beside a running server.",
    )
    label.add_argument("target", metavar="CODE_OR_BATCH", help="a code (any spelling) or a batch id")
    label.add_argument("--level", required=True, help="the level's name, e.g. case or pallet")
    label.add_argument("--data", type=Path, required=True, help="data dir of the line store")
    label.add_argument(
        "--layout", type=Path, help="layout file, .toml or .json (default: built in per level)"
    )
    label.add_argument(
        "--profile",
        choices=("printer", "graphic"),
        help="printer: the printer draws the symbols (^BX, ^BC); graphic: our bitmaps (^GFA) "
        "(default: the layout's symbols setting, else printer)",
    )
    label.add_argument("--format", choices=("zpl", "png"), default="zpl", help="zpl (default) or png")
    label.add_argument(
        "-o", "--output", type=Path, required=True, help="file to write (.zip for PNGs of a batch)"
    )
    label.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linecode.render.label import Layout, default_layout, facts_of, label
    from linecode.store import Store

    layout = Layout.load(args.layout) if args.layout is not None else None
    archive = args.output.suffix.lower() == ".zip"
    # Written beside the target and renamed at the end: a refused code or layout leaves no file.
    partial = args.output.with_name(f".{args.output.name}.partial")
    count = 0
    with Store.open(args.data, readonly=True) as store, contextlib.ExitStack() as stack:
        codes = _codes(store, args.target, args.level)
        if args.format == "png" and not archive and codes.batch:
            raise InvalidArgument(
                f"the PNG labels of batch {args.target!r} go into a .zip archive, not {args.output}",
                reason=Reason.BAD_FORMAT,
                hint="name the output FILE.zip, or give one code",
            )
        stack.callback(lambda: partial.unlink(missing_ok=True))
        zf = stack.enter_context(zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED)) if archive else None
        out = None if archive else stack.enter_context(partial.open("wb"))
        for code in codes.keys:
            facts = facts_of(store, code, args.level)
            chosen = layout if layout is not None else default_layout(args.level, facts.rule)
            made = label(chosen, facts, args.profile, args.format)
            if zf is not None:
                name = f"{count:06d}_{''.join(c for c in code if c.isalnum())}.{args.format}"
                zf.writestr(zipfile.ZipInfo(name, _ZIP_TIME), made)
            else:
                assert out is not None
                out.write(made)
            count += 1
        if not count:
            raise InvalidArgument(f"batch {args.target!r} has no {args.level} codes", reason=Reason.NO_CODES)
        if zf is not None:
            zf.close()
        else:
            assert out is not None
            out.close()
        os.replace(partial, args.output)
    print(f"{args.output}: {count:,} {args.level} label{'s' if count != 1 else ''} ({args.format})")
    return 0


class _Targets(NamedTuple):
    keys: Iterator[str]
    batch: bool


def _codes(store: Store, target: str, level: str) -> _Targets:
    """The code ``target`` names, else every code of ``level`` of the batch it names."""
    try:
        return _Targets(iter([store.info(target).code]), False)
    except (NotFound, InvalidArgument):
        pass
    try:
        store.batch(target)
    except NotFound:
        raise NotFound(
            f"{target!r} is neither a code this store issued nor one of its batches",
            hint="give a code in any spelling, or a batch id",
        ) from None
    return _Targets(store.codes(target, level), True)
