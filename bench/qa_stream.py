"""The QA audit's streaming duplicate counter on wide serials: time, memory and disk at scale.

``PYTHONPATH=TREE /usr/bin/time -v .venv/bin/python bench/qa_stream.py [COUNT]`` generates COUNT
(default 100,000,000) 20-character alphanumeric GS1 serials from one ``SerialPool``, 1 M at a time
on two threads, and feeds them to ``linecode.qa.PartitionCounter(20)`` (256 files by a keyed hash,
each sorted alone; 64 MiB budget), then prints the duplicates found (0: the pool is a bijection),
the seconds adding and finishing, and the bytes written to the files (bench/RESULTS.md, QA audit at pool
scale). ``LINECODE_QA_TMP`` picks the directory of the files (default: the system's temp dir).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

from linecode.qa import PartitionCounter
from linecode.serials import ALNUM, MasterKey, SerialDomain, SerialPool

CHUNK = 1_000_000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000_000
    pool = SerialPool(MasterKey(b"q" * 32).derive("bench/qa"), SerialDomain(ALNUM, 20))
    directory = os.environ.get("LINECODE_QA_TMP") or tempfile.gettempdir()
    counter = PartitionCounter(20, directory=directory)
    t0 = time.perf_counter()
    generate = 0.0
    for start in range(0, count, CHUNK):
        g = time.perf_counter()
        serials = pool.serials(start, min(CHUNK, count - start), threads=2)
        generate += time.perf_counter() - g
        counter.add(serials)
    t1 = time.perf_counter()
    duplicates = counter.finish()
    t2 = time.perf_counter()
    print(
        f"{count:,} serials: {duplicates} duplicates; add {t1 - t0:.1f} s (of which generating "
        f"{generate:.1f} s), finish {t2 - t1:.1f} s; disk {counter.bytes_written / 1e9:.2f} GB; largest sort "
        f"{counter.peak_bytes / 2**20:.1f} MiB; free disk {shutil.disk_usage(directory).free / 1e9:.0f} GB"
    )


if __name__ == "__main__":
    main()
