"""Pure-Python reference of the DataMatrix kernel's image writers: the readable specification.

``linecode._datamatrix.image`` is the fast copy; tests hold it to :func:`png` and :func:`pbm` byte
for byte. :func:`png` writes a 1-bit grayscale PNG (RFC 2083) whose deflate stream (RFC 1951) is
written by hand: fixed Huffman codes, and rows repeated by the module size become one
back-reference, so no zlib and a byte-exact twin. The module matrix comes from
:mod:`linecode.render.reference` (ISO/IEC 16022).
"""

from __future__ import annotations

from bisect import bisect_right


def scanlines(matrix: list[list[int]], module_px: int, quiet_zone: int) -> list[bytes]:
    """The image rows, 1 bit per pixel, MSB first, dark = 0 (PNG grayscale), light padding bits."""
    cols = len(matrix[0])
    width = (cols + 2 * quiet_zone) * module_px
    light = [0] * quiet_zone
    rows = []
    for line in [[0] * cols] * quiet_zone + matrix + [[0] * cols] * quiet_zone:
        bits = [1 - m for m in [*light, *line, *light] for _ in range(module_px)]
        bits += [1] * (-width % 8)
        row = bytes(int("".join(map(str, bits[k : k + 8])), 2) for k in range(0, len(bits), 8))
        rows += [row] * module_px
    return rows


class _BitWriter:
    """Deflate's bit order: values LSB first, Huffman codes MSB first."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def bits(self, value: int, count: int) -> None:
        self.acc |= value << self.n
        self.n += count
        while self.n >= 8:
            self.out.append(self.acc & 0xFF)
            self.acc >>= 8
            self.n -= 8

    def code(self, code: int, length: int) -> None:
        self.bits(int(f"{code:0{length}b}"[::-1], 2), length)

    def literal(self, symbol: int) -> None:
        self.code(*fixed_huffman_code(symbol))

    def match(self, length: int, distance: int) -> None:
        code = bisect_right(LENGTH_BASE, length) - 1
        self.literal(257 + code)
        self.bits(length - LENGTH_BASE[code], LENGTH_EXTRA[code])
        code = bisect_right(DISTANCE_BASE, distance) - 1
        self.code(code, 5)
        self.bits(distance - DISTANCE_BASE[code], DISTANCE_EXTRA[code])

    def flush(self) -> bytes:
        if self.n:
            self.out.append(self.acc & 0xFF)
        return bytes(self.out)


# RFC 1951 3.2.5: extra bits and base of the length symbols 257..285 and distance codes 0..29;
# each base is the previous one plus the span of its extra bits, except 285 (258, no extra bits).
LENGTH_EXTRA = (*[0] * 8, *(e for e in range(1, 6) for _ in range(4)), 0)
LENGTH_BASE = (*(3 + sum(1 << e for e in LENGTH_EXTRA[:k]) for k in range(28)), 258)
DISTANCE_EXTRA = (0, 0, *(e for e in range(14) for _ in range(2)))
DISTANCE_BASE = tuple(1 + sum(1 << e for e in DISTANCE_EXTRA[:k]) for k in range(30))


def fixed_huffman_code(symbol: int) -> tuple[int, int]:
    """(code, bits) of a literal/length symbol 0..287 in deflate's fixed Huffman table."""
    if symbol < 144:
        return 0x30 + symbol, 8
    if symbol < 256:
        return 0x190 + symbol - 144, 9
    if symbol < 280:
        return symbol - 256, 7
    return 0xC0 + symbol - 280, 8


def deflate(rows: list[bytes]) -> bytes:
    """One fixed-Huffman deflate block of the scanlines, each behind filter byte 0.

    Rows equal to the one above (a module is ``module_px`` rows high) become one overlapping
    back-reference one row back; in a new row, a run of 4+ equal bytes becomes a literal and a
    distance-1 reference. Every row is at least 3 bytes (10 modules), so references are too.
    """
    w = _BitWriter()
    w.bits(0b011, 3)  # final block, fixed Huffman
    stride = len(rows[0]) + 1
    y = 0
    while y < len(rows):
        if y > 0 and rows[y] == rows[y - 1]:
            k = 1
            while y + k < len(rows) and rows[y + k] == rows[y - 1]:
                k += 1
            _references(w, k * stride, stride)
            y += k
            continue
        line = b"\0" + rows[y]
        x = 0
        while x < len(line):
            run = 1
            while x + run < len(line) and line[x + run] == line[x]:
                run += 1
            w.literal(line[x])
            if run >= 4:
                _references(w, run - 1, 1)
            else:
                for _ in range(run - 1):
                    w.literal(line[x])
            x += run
        y += 1
    w.literal(256)
    return w.flush()


def _references(w: _BitWriter, total: int, distance: int) -> None:
    """Back-references of ``total`` (>= 3) bytes at ``distance``: pieces of at most 258, none below 3."""
    while total > 0:
        take = min(total, 258)
        if 0 < total - take < 3:
            take = total - 3
        w.match(take, distance)
        total -= take


def crc32(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def adler32(rows: list[bytes]) -> int:
    a, b = 1, 0
    for row in rows:
        for byte in b"\0" + row:
            a = (a + byte) % 65521
            b = (b + a) % 65521
    return b << 16 | a


def _chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + crc32(kind + body).to_bytes(4, "big")


def png(matrix: list[list[int]], module_px: int, quiet_zone: int) -> bytes:
    """A 1-bit grayscale PNG of the matrix: ``module_px`` pixels per module, quiet zone in modules."""
    rows = scanlines(matrix, module_px, quiet_zone)
    width = (len(matrix[0]) + 2 * quiet_zone) * module_px
    header = width.to_bytes(4, "big") + len(rows).to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    idat = b"\x78\x01" + deflate(rows) + adler32(rows).to_bytes(4, "big")
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def pbm(matrix: list[list[int]], module_px: int, quiet_zone: int) -> bytes:
    """A binary PBM (P4): the PNG's scanlines inverted, since PBM writes dark as 1."""
    rows = scanlines(matrix, module_px, quiet_zone)
    width = (len(matrix[0]) + 2 * quiet_zone) * module_px
    return f"P4\n{width} {len(rows)}\n".encode() + b"".join(bytes(255 - b for b in row) for row in rows)
