"""``linecode render``: DataMatrix images of one code, or of a run of a pool's codes in print order;
Code 128 / GS1-128 images of one code (``--symbology code128``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from linecode.errors import InvalidArgument

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from linecode.render import Format

_BULK_CHUNK = 4096  # codes rendered per kernel call between progress-bar updates
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same batch gives the same archive


SYMBOLOGIES = ("datamatrix", "code128")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from linecode.render import BACKENDS, FORMATS, SHAPES

    render = sub.add_parser(
        "render",
        help="DataMatrix image of a code (or of a run of a pool's codes) as PNG, SVG or PBM",
        description="Render CODE into -o FILE, or --count codes of an nmpa20 pool into --out DIR or "
        "FILE.zip. CODE is an nmpa20 code (20 digits) or GS1 data: HRI like (01)…(21)… is recognised, "
        "a raw element string needs --gs1.",
    )
    render.add_argument("code", nargs="?", metavar="CODE", help="the code to render")
    render.add_argument("-o", "--output", type=Path, help="image file for CODE ('-' for stdout)")
    render.add_argument("--gs1", action="store_true", help="CODE is a raw GS1 element string")
    render.add_argument(
        "--format", choices=FORMATS, help="image format (default: from the file name, else png)"
    )
    render.add_argument(
        "--symbology",
        choices=SYMBOLOGIES,
        default="datamatrix",
        help="datamatrix (default) or code128: Code 128 for an nmpa20 code, GS1-128 for GS1 data",
    )
    render.add_argument("--module-px", type=int, help="pixels (dots) per module (default 10; Code 128: 3)")
    render.add_argument(
        "--quiet-zone",
        type=int,
        help="quiet zone in modules (default 1, ISO 16022; Code 128: 10, the least ISO 15417 allows)",
    )
    render.add_argument(
        "--height-px", type=int, default=90, help="Code 128: bar height in pixels (dots) (default 90)"
    )
    render.add_argument(
        "--size", metavar="RxC", help="fixed symbol size, e.g. 16x16 or 8x32 (default: smallest)"
    )
    render.add_argument("--shape", choices=SHAPES, default="any", help="shape when the size is free")
    render.add_argument(
        "--dmre",
        action="store_true",
        help="also allow the DMRE rectangles of ISO/IEC 21471 (smaller for some data; "
        "libdmtx cannot read them)",
    )
    render.add_argument("--backend", choices=BACKENDS, default="linecode", help="encoder (default linecode)")
    render.add_argument(
        "--hri",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="print the code's human-readable text under the symbol (default: off)",
    )
    render.add_argument(
        "--dpi", type=int, default=300, help="printer resolution; sizes the --hri text (default 300)"
    )
    bulk = render.add_argument_group("bulk: a run of an nmpa20 pool's codes, in index order")
    bulk.add_argument("--identifier", help="7-digit nmpa20 product identifier of the pool")
    bulk.add_argument("--start", type=int, default=0, help="first index (default 0)")
    bulk.add_argument("--count", type=int, help="how many codes")
    bulk.add_argument("--out", type=Path, help="folder, or a .zip archive, for the images")
    bulk.add_argument("--data", type=Path, default=Path("."), help="data dir holding master.key (default .)")
    bulk.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="render threads")
    render.set_defaults(handler=run)


def _format(args: argparse.Namespace, target: Path | None) -> Format:
    if args.format:
        return cast("Format", args.format)
    suffix = target.suffix.lower().lstrip(".") if target is not None else ""
    return cast("Format", suffix if suffix in ("png", "svg", "pbm") else "png")


def run(args: argparse.Namespace) -> int:
    code128 = args.symbology == "code128"
    if args.module_px is None:
        args.module_px = 3 if code128 else 10
    if args.quiet_zone is None:
        args.quiet_zone = 10 if code128 else 1
    if code128:
        return _run_code128(args)
    if args.identifier is not None:
        if args.code is not None or args.output is not None:
            raise InvalidArgument("give either CODE with -o FILE, or --identifier with --count and --out")
        return _run_bulk(args)
    if args.code is None or args.output is None:
        raise InvalidArgument("linecode render needs CODE and -o FILE (or --identifier, --count and --out)")
    from linecode.render import render

    image = render(
        args.code,
        gs1=_is_gs1(args),
        fmt=_format(args, None if str(args.output) == "-" else args.output),
        module_px=args.module_px,
        quiet_zone=args.quiet_zone,
        size=args.size,
        shape=args.shape,
        dmre=args.dmre,
        backend=args.backend,
        hri=args.hri,
        dpi=args.dpi,
    )
    _write(args, image)
    return 0


def _write(args: argparse.Namespace, image: bytes) -> None:
    if str(args.output) == "-":
        sys.stdout.buffer.write(image)
    else:
        args.output.write_bytes(image)
        print(f"{args.output}: {len(image):,} bytes", file=sys.stderr)


def _is_gs1(args: argparse.Namespace) -> bool:
    return bool(args.gs1 or args.code.lstrip().startswith(("(", "]d2", "]d8", "]C1", "\x1d")))


def _run_code128(args: argparse.Namespace) -> int:
    """One code as Code 128 (nmpa20) or GS1-128 (GS1 data, recognised as for DataMatrix)."""
    from linecode.render import code128

    if args.identifier is not None or args.code is None or args.output is None:
        raise InvalidArgument("linecode render --symbology code128 needs CODE and -o FILE (one code)")
    unused = [o for o, v in (("--size", args.size), ("--dmre", args.dmre)) if v]
    if unused:
        raise InvalidArgument(f"{', '.join(unused)}: DataMatrix options, not for --symbology code128")
    fmt = _format(args, None if str(args.output) == "-" else args.output)
    gs1 = _is_gs1(args)
    if args.hri:  # the bars, then their text under them
        import numpy as np

        from linecode.render.hri import hri_text, image_of, with_hri

        bars = code128.pixels(
            args.code, gs1=gs1, module_px=args.module_px, height_px=args.height_px, quiet_zone=args.quiet_zone
        )
        text = hri_text(args.code, gs1=gs1)
        gap = 2 * args.module_px  # bars have no quiet zone above and below: two modules of it
        bars = np.pad(bars, ((gap, gap), (0, 0)))
        _write(args, image_of(with_hri(bars, text, dpi=args.dpi), fmt, text))
        return 0
    image = code128.render(
        args.code,
        gs1=gs1,
        fmt=fmt,
        module_px=args.module_px,
        height_px=args.height_px,
        quiet_zone=args.quiet_zone,
    )
    _write(args, image)
    return 0


def _run_bulk(args: argparse.Namespace) -> int:
    from linecode.cli.progress import progress_bar
    from linecode.render import image, matrices, render_many
    from linecode.serials import MasterKey, Nmpa20Pool
    from linecode.serials.keys import KEY_FILE_NAME

    if args.count is None or args.count < 1 or args.out is None:
        raise InvalidArgument("bulk render needs --count N (1 or more) and --out DIR or FILE.zip")
    archive = args.out.suffix.lower() == ".zip"
    fmt = _format(args, None)
    pool = Nmpa20Pool(MasterKey.load(args.data / KEY_FILE_NAME), args.identifier)
    if not archive:
        args.out.mkdir(parents=True, exist_ok=True)
    options = {"size": args.size, "shape": args.shape, "dmre": args.dmre}
    with contextlib.ExitStack() as stack:
        zf = stack.enter_context(zipfile.ZipFile(args.out, "w", zipfile.ZIP_STORED)) if archive else None
        bar = stack.enter_context(progress_bar(args.count, f"render {args.identifier}"))
        for offset in range(0, args.count, _BULK_CHUNK):
            start = args.start + offset
            codes = pool.codes(start, min(_BULK_CHUNK, args.count - offset), threads=args.threads)
            if args.hri:  # the text is drawn in Python, per code
                images = _with_hri(codes, fmt, args, options)
            elif fmt == "svg":  # SVG is text built in Python; the kernel writes PNG and PBM
                symbols = matrices(codes, gs1=False, **options)
                images = [
                    image(m, fmt="svg", module_px=args.module_px, quiet_zone=args.quiet_zone) for m in symbols
                ]
            else:
                images = render_many(
                    codes,
                    gs1=False,
                    fmt="pbm" if fmt == "pbm" else "png",
                    module_px=args.module_px,
                    quiet_zone=args.quiet_zone,
                    threads=args.threads,
                    **options,
                )
            for k, (code, img) in enumerate(zip(codes, images, strict=True)):
                name = f"{start + k:010d}_{code.decode()}.{fmt}"
                if zf is not None:
                    zf.writestr(zipfile.ZipInfo(name, _ZIP_TIME), img)
                else:
                    (args.out / name).write_bytes(img)
            bar.update(len(images))
    print(f"{args.count:,} {fmt.upper()} images of {args.identifier} from index {args.start} in {args.out}")
    return 0


def _with_hri(
    codes: npt.NDArray[np.bytes_], fmt: Format, args: argparse.Namespace, options: dict[str, Any]
) -> list[bytes]:
    """Images of a run of a pool's codes with their text: the symbols the kernel path draws (20 digits
    always take the same size), the text added in Python."""
    from linecode.render import hri_text, matrices
    from linecode.render.hri import symbol_with_hri

    return [
        symbol_with_hri(m, hri_text(code.decode(), gs1=False), fmt=fmt, module_px=args.module_px,
                        quiet_zone=args.quiet_zone, dpi=args.dpi)
        for code, m in zip(codes, matrices(codes, gs1=False, **options), strict=True)
    ]  # fmt: skip
