"""``linecode epc CODE --company-prefix-length N``: the EPC a tag encoder writes for a GS1 code or
SSCC (hex, pure identity URI, tag URI), or ``--decode HEX``: what a tag's EPC says."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser(
        "epc",
        help="RFID: the EPC (SGTIN-96, SGTIN-198, SSCC-96) of a GS1 code or SSCC as hex and URIs, or "
        "decode a tag's hex",
        description="CODE in any spelling (GS1 HRI, raw element string with GS and ]d2, an SSCC) "
        "resolves to its key first. The GS1 company prefix length has no default: a GTIN or SSCC "
        "does not say where its prefix ends, and a guessed length gives a valid-looking wrong EPC. "
        "See docs/epc.md.",
    )
    cmd.add_argument("code", nargs="?", metavar="CODE", help="the GS1 code or SSCC to encode")
    cmd.add_argument("--decode", metavar="HEX", help="read a tag's EPC hex instead of encoding CODE")
    cmd.add_argument(
        "--company-prefix-length",
        type=int,
        metavar="N",
        help="digits of the GS1 company prefix, 6 to 12 (required to encode)",
    )
    cmd.add_argument(
        "--filter",
        type=int,
        default=0,
        metavar="N",
        help="filter value 0..7 (default 0, all others; SGTIN: 1 sales pack, 4 bundle, 2 case; "
        "SSCC: 6 pallet)",
    )
    cmd.add_argument(
        "--scheme",
        default="auto",
        choices=("auto", "sgtin-96", "sgtin-198", "sscc-96"),
        help="auto (default): SGTIN-96 when the serial fits it, else SGTIN-198; SSCC-96 for an SSCC",
    )
    cmd.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    cmd.set_defaults(handler=run, parser=cmd)


def run(args: argparse.Namespace) -> int:
    from linecode.codes.epc import decode, encode, filters_of

    if (args.code is None) == (args.decode is None):
        args.parser.error("give either CODE or --decode HEX")
    if args.decode is not None:
        epc = decode(args.decode)
    else:
        epc = encode(
            args.code,
            company_prefix_length=args.company_prefix_length,
            filter_value=args.filter,
            scheme=args.scheme,
        )
    if args.json:
        print(json.dumps(epc.as_dict(), sort_keys=True))
        return 0
    meaning = filters_of(epc.scheme)[epc.filter_value]
    print(f"code      {epc.key}")
    print(f"scheme    {epc.scheme}, filter {epc.filter_value} ({meaning})")
    print(f"hex       {epc.as_hex()}")
    print(f"id URI    {epc.as_pure_identity_uri()}")
    print(f"tag URI   {epc.as_tag_uri()}")
    return 0
