/*
 * test_blocksig.c — engine/blocksig: block counts (ss_nblocks), the last
 * short block covering only its bytes, signatures equal to XXH3-128 of each
 * block (checked against libxxhash directly), equality and inequality.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "engine/blocksig.h"

static unsigned char *random_buf(size_t n, uint64_t seed)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    uint64_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (unsigned char)(x >> 24);
    }
    return p;
}

static void test_nblocks(void **state)
{
    (void)state;
    assert_int_equal(ss_nblocks(0, 8192), 0);
    assert_int_equal(ss_nblocks(1, 8192), 1);
    assert_int_equal(ss_nblocks(8191, 8192), 1);
    assert_int_equal(ss_nblocks(8192, 8192), 1);
    assert_int_equal(ss_nblocks(8193, 8192), 2);
    assert_int_equal(ss_nblocks(16384, 8192), 2);
    assert_int_equal(ss_nblocks(16385, 8192), 3);
    assert_int_equal(ss_nblocks(32768, 32768), 1);
    assert_int_equal(ss_nblocks(1, 1), 1);
    assert_int_equal(ss_nblocks(7, 1), 7);
    assert_int_equal(ss_nblocks(1000, 3), 334);
    /* 1 TiB + 1 in 32 KiB blocks: no overflow */
    assert_int_equal(ss_nblocks((1ULL << 40) + 1, 32768), (1ULL << 25) + 1);
}

static void check_against_xxh(const unsigned char *d, size_t len, size_t bs)
{
    size_t n = ss_nblocks(len, bs);
    ss_sig *s = calloc(n + 2, sizeof *s);
    assert_non_null(s);
    /* a sentinel after the last signature must stay untouched */
    memset(&s[n], 0xAB, sizeof *s);
    ss_sig guard = s[n];
    assert_int_equal(ss_sig_blocks(d, len, bs, s), n);
    assert_true(ss_sig_eq(&s[n], &guard));
    for (size_t i = 0; i < n; i++) {
        size_t off = i * bs, bl = len - off < bs ? len - off : bs;
        XXH128_hash_t h = XXH3_128bits(d + off, bl);
        assert_int_equal(s[i].lo, h.low64);
        assert_int_equal(s[i].hi, h.high64);
        ss_sig one;
        ss_sig_block(d + off, bl, &one);
        assert_true(ss_sig_eq(&one, &s[i]));
    }
    free(s);
}

static void test_blocks_match_xxh3(void **state)
{
    (void)state;
    size_t lens[] = { 0, 1, 100, 8191, 8192, 8193, 3 * 8192 + 100, 5 * 8192 };
    size_t bss[] = { 8192, 4096, 32768, 1000 };
    unsigned char *d = random_buf(5 * 8192 + 100, 42);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t j = 0; j < sizeof bss / sizeof bss[0]; j++)
            check_against_xxh(d, lens[i], bss[j]);
    free(d);
}

static void test_last_short_block(void **state)
{
    (void)state;
    size_t bs = 8192, len = 3 * bs + 100;
    unsigned char *d = random_buf(4 * bs, 7);
    ss_sig s[4];
    assert_int_equal(ss_sig_blocks(d, len, bs, s), 4);
    ss_sig last;
    ss_sig_block(d + 3 * bs, 100, &last);
    assert_true(ss_sig_eq(&s[3], &last));
    /* The short block's signature covers only its bytes: it differs from
     * the same bytes padded with zeros to a full block, and from the full
     * block the buffer actually holds there. */
    unsigned char padded[8192] = { 0 };
    memcpy(padded, d + 3 * bs, 100);
    ss_sig pad;
    ss_sig_block(padded, bs, &pad);
    assert_false(ss_sig_eq(&s[3], &pad));
    ss_sig fullblk;
    ss_sig_block(d + 3 * bs, bs, &fullblk);
    assert_false(ss_sig_eq(&s[3], &fullblk));
    /* Changing bytes past the length changes nothing. */
    d[len] ^= 0xff;
    d[len + 50] ^= 0x01;
    ss_sig again[4];
    assert_int_equal(ss_sig_blocks(d, len, bs, again), 4);
    for (int i = 0; i < 4; i++)
        assert_true(ss_sig_eq(&s[i], &again[i]));
    free(d);
}

static void test_one_byte_changes_one_block(void **state)
{
    (void)state;
    size_t bs = 8192, nb = 16, len = nb * bs - 1;
    unsigned char *a = random_buf(len, 99), *b = malloc(len);
    assert_non_null(b);
    ss_sig sa[16], sb[16];
    assert_int_equal(ss_sig_blocks(a, len, bs, sa), nb);
    size_t flips[] = { 0, bs - 1, bs, 5 * bs + 17, len - 1 };
    for (size_t k = 0; k < sizeof flips / sizeof flips[0]; k++) {
        memcpy(b, a, len);
        b[flips[k]] ^= 0x01;
        assert_int_equal(ss_sig_blocks(b, len, bs, sb), nb);
        for (size_t i = 0; i < nb; i++) {
            if (i == flips[k] / bs)
                assert_false(ss_sig_eq(&sa[i], &sb[i]));
            else
                assert_true(ss_sig_eq(&sa[i], &sb[i]));
        }
    }
    free(a);
    free(b);
}

static void test_position_independent_and_distinct(void **state)
{
    (void)state;
    size_t bs = 4096;
    unsigned char *d = random_buf(4 * bs, 5);
    memcpy(d + 2 * bs, d, bs);             /* block 2 == block 0 */
    ss_sig s[4];
    assert_int_equal(ss_sig_blocks(d, 4 * bs, bs, s), 4);
    assert_true(ss_sig_eq(&s[0], &s[2]));
    assert_false(ss_sig_eq(&s[0], &s[1]));
    assert_false(ss_sig_eq(&s[1], &s[3]));
    /* zero-filled blocks of different lengths differ */
    unsigned char z[4096] = { 0 };
    ss_sig z1, z2, z0;
    ss_sig_block(z, 4096, &z1);
    ss_sig_block(z, 4095, &z2);
    ss_sig_block(z, 0, &z0);
    assert_false(ss_sig_eq(&z1, &z2));
    assert_false(ss_sig_eq(&z0, &z2));
    free(d);
}

static void test_sig_eq(void **state)
{
    (void)state;
    ss_sig a = { 1, 2 }, b = { 1, 2 }, c = { 1, 3 }, e = { 0, 2 };
    assert_true(ss_sig_eq(&a, &b));
    assert_false(ss_sig_eq(&a, &c));    /* hi differs */
    assert_false(ss_sig_eq(&a, &e));    /* lo differs */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nblocks),
        cmocka_unit_test(test_blocks_match_xxh3),
        cmocka_unit_test(test_last_short_block),
        cmocka_unit_test(test_one_byte_changes_one_block),
        cmocka_unit_test(test_position_independent_and_distinct),
        cmocka_unit_test(test_sig_eq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
