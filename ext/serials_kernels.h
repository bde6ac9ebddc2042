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
 * (< mod_v). a holds the high, b the low half. The even table needs one spare entry at its end
 * (the vector path reads 32 bits at a 16-bit entry). */
static void lc_feistel_scalar(const uint16_t *even, const uint32_t *odd, uint32_t mod_u, uint32_t mod_v,
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

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define LC_LANES 64 /* four 16-lane vectors in flight: the table loads' latency overlaps */

/* The same rounds with AVX-512 gathers, 64 lanes at a time; the scalar loop takes the rest. */
__attribute__((target("avx512f")))
static void lc_feistel_avx512(const uint16_t *even, const uint32_t *odd, uint32_t mod_u, uint32_t mod_v,
                              int pairs, uint32_t *a, uint32_t *b, size_t n) {
    const __m512i mu = _mm512_set1_epi32((int)mod_u), mv = _mm512_set1_epi32((int)mod_v);
    const __m512i low16 = _mm512_set1_epi32(0xffff);
    size_t i = 0;
    for (; i + LC_LANES <= n; i += LC_LANES) {
        __m512i va[4], vb[4];
        for (int k = 0; k < 4; k++) {
            va[k] = _mm512_loadu_si512(a + i + 16 * k);
            vb[k] = _mm512_loadu_si512(b + i + 16 * k);
        }
        for (int j = 0; j < pairs; j++) {
            const uint16_t *te = even + (size_t)j * mod_v;
            const uint32_t *to = odd + (size_t)j * mod_u;
            for (int k = 0; k < 4; k++) {
                __m512i f = _mm512_and_si512(_mm512_i32gather_epi32(vb[k], (const void *)te, 2), low16);
                __m512i c = _mm512_add_epi32(va[k], f);
                c = _mm512_mask_sub_epi32(c, _mm512_cmpge_epu32_mask(c, mu), c, mu);
                va[k] = vb[k];
                vb[k] = c;
            }
            for (int k = 0; k < 4; k++) {
                __m512i c = _mm512_add_epi32(va[k], _mm512_i32gather_epi32(vb[k], (const void *)to, 4));
                c = _mm512_mask_sub_epi32(c, _mm512_cmpge_epu32_mask(c, mv), c, mv);
                va[k] = vb[k];
                vb[k] = c;
            }
        }
        for (int k = 0; k < 4; k++) {
            _mm512_storeu_si512(a + i + 16 * k, va[k]);
            _mm512_storeu_si512(b + i + 16 * k, vb[k]);
        }
    }
    if (i < n) lc_feistel_scalar(even, odd, mod_u, mod_v, pairs, a + i, b + i, n - i);
}
#endif

static void lc_feistel_tabled(const uint16_t *even, const uint32_t *odd, uint32_t mod_u, uint32_t mod_v,
                              int pairs, uint32_t *a, uint32_t *b, size_t n) {
#if defined(__GNUC__) && defined(__x86_64__)
    static int avx512 = -1;
    if (avx512 < 0) avx512 = __builtin_cpu_supports("avx512f") ? 1 : 0;
    if (avx512) {
        lc_feistel_avx512(even, odd, mod_u, mod_v, pairs, a, b, n);
        return;
    }
#endif
    lc_feistel_scalar(even, odd, mod_u, mod_v, pairs, a, b, n);
}

static const char lc_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Rows of 20 ASCII digits: identifier (7), serial hi (4 digits) lo (5 digits), check (4). Written
 * straight into the output: assembling a row on the stack first and copying it costs a failed
 * store-to-load forward per row. */
static void lc_format_nmpa20(const char *identifier, const uint32_t *hi, const uint32_t *lo,
                             const uint32_t *check, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t *row = out + 20 * i;
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
    }
}

#endif
