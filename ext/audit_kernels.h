/* Hot loops of the QA audit (ext/_audit.pyx owns the Python interface; the specification is
 * read_back_reference and test_and_set_reference in linecode/qa.py). */
#ifndef LINECODE_AUDIT_KERNELS_H
#define LINECODE_AUDIT_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "serials_kernels.h"

#define LC_AUDIT_BLOCK 512 /* codes whose checks are recomputed together (the check loop vectorises) */
#define LC_AHEAD 16        /* bitmap words prefetched ahead: the random accesses overlap */

/* Test-and-set one bit per value; returns how many bits were set already (a value seen before,
 * in this call or an earlier one). Atomic, so threads may share one bitmap and the count stays
 * exact: of two threads setting the same bit, one sees it clear. Values must be < the bitmap's
 * bits (the caller checks). */
static uint64_t lc_test_and_set(uint64_t *words, const uint64_t *values, size_t n) {
    uint64_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + LC_AHEAD < n) __builtin_prefetch(words + (values[i + LC_AHEAD] >> 6), 1, 0);
        uint64_t v = values[i], bit = 1ULL << (v & 63);
        seen += (__atomic_fetch_or(words + (v >> 6), bit, __ATOMIC_RELAXED) & bit) != 0;
    }
    return seen;
}

/* Read back n nmpa20 codes (rows of 20 bytes) under one identifier (its 7 ASCII digits and
 * prefix = identifier * 10**9). Returns how many are invalid (a character not a digit, another
 * identifier, or a check other than the keyed one); writes the serial of every code whose 16
 * leading characters are digits under this identifier to serials (*kept of them); adds each
 * serial digit to counts[position * 10 + digit]. */
static uint64_t lc_read_back_nmpa20(const uint8_t *codes, size_t n, const uint8_t *identifier,
                                    uint64_t k0, uint64_t k1, uint64_t prefix, uint64_t *serials,
                                    size_t *kept, int64_t *counts) {
    uint64_t block[LC_AUDIT_BLOCK];
    uint32_t got[LC_AUDIT_BLOCK], want[LC_AUDIT_BLOCK];
    uint64_t invalid = 0;
    size_t out = 0;
    for (size_t first = 0; first < n; first += LC_AUDIT_BLOCK) {
        size_t m = n - first < LC_AUDIT_BLOCK ? n - first : LC_AUDIT_BLOCK, q = 0;
        for (size_t i = 0; i < m; i++) {
            const uint8_t *row = codes + 20 * (first + i);
            unsigned head_bad = 0, check_bad = 0;
            for (int k = 0; k < 16; k++) head_bad |= (uint8_t)(row[k] - '0') > 9;
            for (int k = 16; k < 20; k++) check_bad |= (uint8_t)(row[k] - '0') > 9;
            uint64_t serial = 0;
            for (int k = 7; k < 16; k++) {
                uint8_t d = (uint8_t)(row[k] - '0');
                if (d <= 9) counts[(k - 7) * 10 + d]++;
                serial = serial * 10 + d;
            }
            if (head_bad || memcmp(row, identifier, 7) != 0) {
                invalid++;
                continue;
            }
            serials[out++] = serial;
            if (check_bad) {
                invalid++;
                continue;
            }
            block[q] = serial;
            got[q] = (uint32_t)(row[16] - '0') * 1000 + (uint32_t)(row[17] - '0') * 100 +
                     (uint32_t)(row[18] - '0') * 10 + (uint32_t)(row[19] - '0');
            q++;
        }
        lc_nmpa20_checks(k0, k1, prefix, block, want, q);
        for (size_t j = 0; j < q; j++) invalid += want[j] != got[j];
    }
    *kept = out;
    return invalid;
}

#endif
