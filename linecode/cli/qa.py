"""``linecode qa``: the QA user's audits."""

from __future__ import annotations

import argparse
import json
import os
import secrets

from linecode.errors import InvalidArgument


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    qa = sub.add_parser("qa", help="audit codes: uniqueness, checks, guessability")
    audits = qa.add_subparsers(dest="audit", required=True, metavar="AUDIT")
    uni = audits.add_parser(
        "uniqueness",
        help="generate N codes across batches and levels; prove no duplicates and every check right",
    )
    uni.add_argument("--count", type=int, default=1_000_000, help="codes to generate (default 1,000,000)")
    uni.add_argument("--levels", default="unit,bundle,case", help="comma-separated packaging levels")
    uni.add_argument("--batch-size", type=int, default=None, help="units per batch (default 50,000)")
    uni.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="threads that generate and read back codes (default: every core)",
    )
    uni.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    uni.set_defaults(handler=run_uniqueness)


def run_uniqueness(args: argparse.Namespace) -> int:
    from linecode.cli.progress import progress_bar
    from linecode.qa import DEFAULT_BATCH_SIZE, audit_uniqueness, default_levels
    from linecode.serials import MasterKey

    if args.count < 1:
        raise InvalidArgument(f"--count {args.count}: expected at least 1")
    names = [n.strip() for n in args.levels.split(",") if n.strip()]
    if not names or len(set(names)) != len(names):
        raise InvalidArgument(f"--levels {args.levels!r}: expected distinct comma-separated names")
    batch_size = args.batch_size or DEFAULT_BATCH_SIZE
    if batch_size < 1:
        raise InvalidArgument(f"--batch-size {batch_size}: expected at least 1")
    # A fresh throwaway key: the audit judges the method, not one production key.
    master = MasterKey(secrets.token_bytes(32))
    with progress_bar(args.count, "qa uniqueness") as bar:
        report = audit_uniqueness(
            master,
            args.count,
            levels=default_levels(names),
            batch_size=batch_size,
            threads=max(1, args.threads),
            progress=bar.update,
        )
    ok = report.duplicates == 0 and report.invalid == 0
    per_level = ", ".join(f"{name} {n:,}" for name, n in report.levels.items())
    print(f"codes generated     {report.count:>14,}  ({per_level})")
    print(f"duplicates          {report.duplicates:>14,}")
    print(f"invalid checks      {report.invalid:>14,}")
    print(f"generation speed    {report.codes_per_s:>14,.0f} codes/s")
    print(f"guess probability   {report.guess_probability:>14.2e}  (random serial, batch of {batch_size:,})")
    print(f"  with keyed check  {report.guess_probability_with_check:>14.2e}")
    print(f"  measured          {report.guess_probability_measured:>14.2e}")
    print(
        f"  whole pool        {report.guess_probability_pool:>14.2e}  (every code of the busiest identifier; "
        f"with check {report.guess_probability_pool_with_check:.2e})"
    )
    print(
        f"randomness          {'ok' if report.randomness_ok else 'FAILED':>14}  "
        f"(chi-square per serial position: max {report.chi2_max:.1f}, min p {report.chi2_p_min:.3g})"
    )
    print("result              " + ("PASS" if ok and report.randomness_ok else "FAIL").rjust(14))
    if args.json:
        print(json.dumps(report.as_dict(), sort_keys=True))
    return 0 if ok and report.randomness_ok else 1
