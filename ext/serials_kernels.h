/* Hot loops of the serial kernel, in C so that GCC can compile each one for the widest vector unit
 * the machine has (target_clones picks AVX-512, AVX2 or plain x86-64 at load time) from one
 * portable source. The specification is linecode/serials/reference.py; ext/_serials.pyx owns the
 * Python interface and the round tables. Every loop works on one block of lanes at a time, rounds
 * outside and lanes inside, so independent lanes fill the pipeline. */
#ifndef LINECODE_SERIALS_KERNELS_H
#define LINECODE_SERIALS_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LC_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LC_MULTIVERSION
#endif

#define LC_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define LC_SIPROUND                                                   \
    do {                                                              \
        v0 += v1; v1 = LC_ROTL(v1, 13); v1 ^= v0; v0 = LC_ROTL(v0, 32); \
        v2 += v3; v3 = LC_ROTL(v3, 16); v3 ^= v2;                     \
        v0 += v3; v3 = LC_ROTL(v3, 21); v3 ^= v0;                     \
        v2 += v1; v1 = LC_ROTL(v1, 17); v1 ^= v2; v2 = LC_ROTL(v2, 32); \
    } while (0)

/* SipHash-2-4 of one 8-byte little-endian message. */
static inline uint64_t lc_siphash24(uint64_t k0, uint64_t k1, uint64_t m) {
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    const uint64_t b = 8ULL << 56;
    v3 ^= m; LC_SIPROUND; LC_SIPROUND; v0 ^= m;
    v3 ^= b; LC_SIPROUND; LC_SIPROUND; v0 ^= b;
    v2 ^= 0xff; LC_SIPROUND; LC_SIPROUND; LC_SIPROUND; LC_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* The nmpa20 check: high 32 bits of SipHash(prefix + serial), mod 10**4. */
LC_MULTIVERSION
static void lc_nmpa20_checks(uint64_t k0, uint64_t k1, uint64_t prefix, const uint64_t *serials,
                             uint32_t *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = (uint32_t)(lc_siphash24(k0, k1, prefix + serials[i]) >> 32) % 10000u;
}

/* Tabled Feistel rounds over n lanes: even[j * mod_v + b] is round 2j's function value (< mod_u,
 * so 16 bits: the tables of a 9-digit domain then fit in L2), odd[j * mod_u + b] round 2j+1's
 * (< mod_v). a holds the high, b the low half. */
LC_MULTIVERSION
static void lc_feistel_tabled(const uint16_t *even, const uint32_t *odd, uint32_t mod_u, uint32_t mod_v,
                              int pairs, uint32_t *a, uint32_t *b, size_t n) {
    for (int j = 0; j < pairs; j++) {
        const uint16_t *te = even + (size_t)j * mod_v;
        const uint32_t *to = odd + (size_t)j * mod_u;
        for (size_t i = 0; i < n; i++) {
            uint32_t c = a[i] + te[b[i]];
            a[i] = b[i];
            b[i] = c >= mod_u ? c - mod_u : c;
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t c = a[i] + to[b[i]];
            a[i] = b[i];
            b[i] = c >= mod_v ? c - mod_v : c;
        }
    }
}

static const char lc_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Rows of 20 ASCII digits: identifier (7), serial hi (4 digits) lo (5 digits), check (4). */
static void lc_format_nmpa20(const char *identifier, const uint32_t *hi, const uint32_t *lo,
                             const uint32_t *check, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t row[20];
        uint32_t h = hi[i], l = lo[i], c = check[i];
        memcpy(row, identifier, 7);
        memcpy(row + 7, lc_digit_pairs + 2 * (h / 100), 2);
        memcpy(row + 9, lc_digit_pairs + 2 * (h % 100), 2);
        row[11] = (uint8_t)('0' + l / 10000);
        l %= 10000;
        memcpy(row + 12, lc_digit_pairs + 2 * (l / 100), 2);
        memcpy(row + 14, lc_digit_pairs + 2 * (l % 100), 2);
        memcpy(row + 16, lc_digit_pairs + 2 * (c / 100), 2);
        memcpy(row + 18, lc_digit_pairs + 2 * (c % 100), 2);
        memcpy(out + 20 * i, row, 20);
    }
}

#endif
