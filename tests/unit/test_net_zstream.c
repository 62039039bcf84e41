/* zstd streams: round trips in random pieces, prompt flushes, bounded bombs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <zstd.h>

#include "engine/net/zstream.h"

/* An in-memory pipe: the sink appends, the reader consumes. */
typedef struct {
    uint8_t *p;
    size_t len, cap, pos;
    size_t max_read;        /* the reader hands out at most this much per call */
    int empty_is_error;     /* reading with nothing buffered fails the test */
    uint64_t seed;
} pipe_t;

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int pipe_write(void *ctx, const void *p, size_t n, ss_err *err)
{
    (void)err;
    pipe_t *q = ctx;
    if (q->len + n > q->cap) {
        q->cap = (q->len + n) * 2;
        q->p = realloc(q->p, q->cap);
        assert_non_null(q->p);
    }
    memcpy(q->p + q->len, p, n);
    q->len += n;
    return 0;
}

static ssize_t pipe_read(void *ctx, void *buf, size_t cap, ss_err *err)
{
    pipe_t *q = ctx;
    if (q->pos == q->len) {
        if (q->empty_is_error)
            return ss_seterr(err, SS_EINTERNAL, 0, "decoder wanted bytes not yet flushed");
        return 0;
    }
    size_t n = q->len - q->pos;
    if (n > cap)
        n = cap;
    size_t lim = 1 + (size_t)(rnd(&q->seed) % q->max_read);
    if (n > lim)
        n = lim;
    memcpy(buf, q->p + q->pos, n);
    q->pos += n;
    return (ssize_t)n;
}

static void test_parse(void **state)
{
    (void)state;
    ss_zopt o;
    ss_err err;
    assert_int_equal(ss_zopt_parse("none", &o, &err), 0);
    assert_int_equal(o.mode, SS_Z_NONE);
    assert_int_equal(ss_zopt_parse("zstd", &o, &err), 0);
    assert_int_equal(o.mode, SS_Z_ZSTD);
    assert_int_equal(o.level, SS_Z_DEFAULT_LEVEL);
    assert_int_equal(ss_zopt_parse("zstd:19", &o, &err), 0);
    assert_int_equal(o.level, 19);
    const char *bad[] = { "zstd:", "zstd:0", "zstd:20", "zstd:-1", "zstd:3x", "gzip", "",
                          "zstd:99999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ss_zopt_parse(bad[i], &o, &err), -1);
        assert_int_equal(err.kind, SS_EUSAGE);
        assert_non_null(strstr(err.msg, "zstd:LEVEL"));
    }
}

/* Messages of random size, written in random pieces, flushed one by one;
 * after each flush the reader gets the whole message without more input. */
static void roundtrip(ss_zmode mode, int level, uint64_t seed)
{
    pipe_t q = { .max_read = 5000, .empty_is_error = 1, .seed = seed };
    ss_zopt o = { mode, level, 0 };
    ss_zenc *e;
    ss_zdec *d;
    ss_err err;
    assert_int_equal(ss_zenc_new(&e, &o, pipe_write, &q, &err), 0);
    assert_int_equal(ss_zdec_new(&d, mode, pipe_read, &q, &err), 0);
    static uint8_t msg[300000], got[300000];
    uint64_t s = seed, total = 0;
    for (int m = 0; m < 40; m++) {
        size_t len = (size_t)(rnd(&s) % sizeof msg);
        /* Half compressible, half random. */
        for (size_t i = 0; i < len; i++)
            msg[i] = (m & 1) ? (uint8_t)rnd(&s) : (uint8_t)(i / 100);
        for (size_t pos = 0; pos < len;) {
            size_t piece = 1 + (size_t)(rnd(&s) % 20000);
            if (piece > len - pos)
                piece = len - pos;
            assert_int_equal(ss_zenc_write(e, msg + pos, piece, &err), 0);
            pos += piece;
        }
        assert_int_equal(ss_zenc_flush(e, &err), 0);
        size_t have = 0;
        while (have < len) {
            size_t cap = 1 + (size_t)(rnd(&s) % 70000);
            if (cap > len - have)
                cap = len - have;
            ssize_t n = ss_zdec_read(d, got + have, cap, &err);
            if (n <= 0)
                fail_msg("read %zd at %zu/%zu: %s", n, have, len, err.msg);
            assert_true((size_t)n <= cap);
            have += (size_t)n;
        }
        assert_memory_equal(got, msg, len);
        total += len;
    }
    assert_int_equal(ss_zenc_end(e, &err), 0);
    q.empty_is_error = 0;
    uint8_t x;
    assert_int_equal(ss_zdec_read(d, &x, 1, &err), 0);
    assert_true(ss_zenc_bytes_in(e) == total);
    assert_true(ss_zdec_bytes_out(d) == total);
    assert_true(ss_zenc_bytes_out(e) == q.len);
    assert_true(ss_zdec_bytes_in(d) == q.len);
    ss_zenc_free(e);
    ss_zdec_free(d);
    free(q.p);
}

static void test_roundtrip(void **state)
{
    (void)state;
    roundtrip(SS_Z_ZSTD, 1, 0x1234567);
    roundtrip(SS_Z_ZSTD, 6, 0xfeedbeef);
    roundtrip(SS_Z_NONE, 0, 0xabcdef1);
}

static void test_truncated_and_corrupt(void **state)
{
    (void)state;
    pipe_t q = { .max_read = 1 << 20, .seed = 7 };
    ss_zopt o = { SS_Z_ZSTD, 3, 0 };
    ss_zenc *e;
    ss_zdec *d;
    ss_err err;
    static uint8_t buf[100000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i % 251);
    assert_int_equal(ss_zenc_new(&e, &o, pipe_write, &q, &err), 0);
    assert_int_equal(ss_zenc_write(e, buf, sizeof buf, &err), 0);
    assert_int_equal(ss_zenc_flush(e, &err), 0);
    /* Flushed but never ended, then the connection closes. */
    assert_int_equal(ss_zdec_new(&d, SS_Z_ZSTD, pipe_read, &q, &err), 0);
    ssize_t n;
    while ((n = ss_zdec_read(d, buf, sizeof buf, &err)) > 0)
        ;
    assert_int_equal(n, -1);
    assert_non_null(strstr(err.msg, "ended inside"));
    ss_zdec_free(d);

    /* Garbage. */
    q.pos = 0;
    memset(q.p, 0x41, q.len);
    assert_int_equal(ss_zdec_new(&d, SS_Z_ZSTD, pipe_read, &q, &err), 0);
    assert_int_equal(ss_zdec_read(d, buf, sizeof buf, &err), -1);
    assert_int_equal(err.kind, SS_EPROTO);
    assert_non_null(strstr(err.msg, "corrupt"));
    ss_zdec_free(d);
    ss_zenc_free(e);
    free(q.p);
}

/* 128 MiB of zeros compress to a few KiB; decoding hands them out in
 * caller-sized pieces, never all at once. */
static void test_bomb_bounded(void **state)
{
    (void)state;
    size_t big = 128u << 20;
    uint8_t *zeros = calloc(1, big);
    assert_non_null(zeros);
    pipe_t q = { .max_read = 1 << 20, .seed = 9 };
    ss_zopt o = { SS_Z_ZSTD, 1, 0 };
    ss_zenc *e;
    ss_zdec *d;
    ss_err err;
    assert_int_equal(ss_zenc_new(&e, &o, pipe_write, &q, &err), 0);
    assert_int_equal(ss_zenc_write(e, zeros, big, &err), 0);
    assert_int_equal(ss_zenc_end(e, &err), 0);
    free(zeros);
    assert_true(q.len < (1u << 20));
    assert_int_equal(ss_zdec_new(&d, SS_Z_ZSTD, pipe_read, &q, &err), 0);
    static uint8_t out[65536];
    uint64_t total = 0;
    ssize_t n;
    while ((n = ss_zdec_read(d, out, sizeof out, &err)) > 0) {
        assert_true((size_t)n <= sizeof out);
        total += (uint64_t)n;
    }
    if (n != 0)
        fail_msg("after %llu bytes: %s", (unsigned long long)total, err.msg);
    assert_true(total == big);
    ss_zdec_free(d);
    ss_zenc_free(e);
    free(q.p);

    /* A frame that asks for a 128 MiB window is refused outright. */
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 27);
    uint8_t src[4096] = { 1, 2, 3 }, dst[8192];
    ZSTD_outBuffer ob = { dst, sizeof dst, 0 };
    ZSTD_inBuffer ib = { src, sizeof src, 0 };
    assert_false(ZSTD_isError(ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_flush)));
    ZSTD_freeCCtx(c);
    pipe_t w = { .p = dst, .len = ob.pos, .cap = sizeof dst, .max_read = 1 << 20, .seed = 3 };
    assert_int_equal(ss_zdec_new(&d, SS_Z_ZSTD, pipe_read, &w, &err), 0);
    assert_int_equal(ss_zdec_read(d, out, sizeof out, &err), -1);
    assert_non_null(strstr(err.msg, "window"));
    ss_zdec_free(d);
}

/* A sink as slow as a thin link: 1 ms per 64 KiB handed to it. */
static int slow_write(void *ctx, const void *p, size_t n, ss_err *err)
{
    pipe_t *q = ctx;
    struct timespec ts = { 0, (long)(n * 1000000 / 65536) };
    nanosleep(&ts, NULL);
    return pipe_write(q, p, n, err);
}

/* nmsg 1 MiB messages (text, or half random), each flushed; returns the mean level over
 * the messages (lowest and highest in *lo, *hi), after checking that the
 * stream of frames decodes to exactly what went in. */
static double adapt_run(ss_zwrite_fn sink, int text, uint64_t seed, size_t nmsg, int *lo, int *hi)
{
    pipe_t q = { .max_read = 1 << 20, .seed = seed };
    /* Room for everything, touched once: a sink that reallocates and
     * faults in pages as it goes is not a "fast" sink. */
    q.cap = nmsg << 20;
    q.p = malloc(q.cap);
    assert_non_null(q.p);
    memset(q.p, 0, q.cap);
    ss_zopt o = { SS_Z_ZSTD, 1, 1 };
    ss_zenc *e;
    ss_zdec *d;
    ss_err err;
    assert_int_equal(ss_zenc_new(&e, &o, sink, &q, &err), 0);
    assert_int_equal(ss_zenc_level(e), 1);
    size_t mlen = 1u << 20;
    uint8_t *all = malloc(mlen * nmsg), *got = malloc(mlen * nmsg);
    assert_non_null(all);
    assert_non_null(got);
    uint64_t s = seed;
    int levels_seen = 0, last = 1;
    long sum = 0;
    *lo = *hi = 1;
    for (size_t m = 0; m < nmsg; m++) {
        uint8_t *msg = all + m * mlen;
        /* Text from a small vocabulary: stronger levels find more in it.
         * Otherwise half random, half 4-bit symbols: the fast levels
         * compress that several times faster than level 1. */
        for (size_t i = 0; !text && i < mlen; i++)
            msg[i] = (i / 4096) & 1 ? (uint8_t)rnd(&s) : (uint8_t)(rnd(&s) & 15);
        for (size_t i = 0; text && i < mlen;) {
            static const char *words[] = { "segment", "mirror", "primary", "block",
                                           "recovery", "checkpoint", "tablespace",
                                           "relation", "timeline", "replica", "wal",
                                           "vacuum", "index", "tuple", "page", "lsn" };
            const char *w = words[rnd(&s) % 16];
            for (; *w && i < mlen; w++)
                msg[i++] = (uint8_t)*w;
            if (i < mlen)
                msg[i++] = (uint8_t)(rnd(&s) % 10 == 0 ? '0' + rnd(&s) % 10 : ' ');
        }
        assert_int_equal(ss_zenc_write(e, msg, mlen, &err), 0);
        assert_int_equal(ss_zenc_flush(e, &err), 0);
        if (ss_zenc_level(e) != last)
            levels_seen++;
        last = ss_zenc_level(e);
        assert_true(last >= SS_Z_ADAPT_MIN && last <= SS_Z_ADAPT_MAX && last != 0);
        *lo = last < *lo ? last : *lo;
        *hi = last > *hi ? last : *hi;
        sum += last;
    }
    assert_int_equal(ss_zenc_end(e, &err), 0);
    assert_int_equal(ss_zdec_new(&d, SS_Z_ZSTD, pipe_read, &q, &err), 0);
    size_t have = 0;
    for (;;) {
        ssize_t n = ss_zdec_read(d, got + have, mlen * nmsg - have + 1 > mlen ? mlen : mlen * nmsg - have + 1, &err);
        assert_true(n >= 0);
        if (n == 0)
            break;
        have += (size_t)n;
        assert_true(have <= mlen * nmsg);
    }
    assert_int_equal(have, mlen * nmsg);
    assert_memory_equal(got, all, mlen * nmsg);
    assert_true(levels_seen >= 1);      /* it did move, and decoding still worked */
    ss_zdec_free(d);
    ss_zenc_free(e);
    free(q.p);
    free(all);
    free(got);
    return (double)sum / (double)nmsg;
}

/* With real timings the level moves (the first window always takes a
 * step; where it goes is zadapt's business, tested on a model in
 * test_net_zadapt.c): whatever it does, the stream of frames it leaves
 * decodes to exactly the input. Both kinds of data, a slow and a fast sink. */
static void test_adapt_changes_level_and_decodes(void **state)
{
    (void)state;
    int lo, hi;
    adapt_run(slow_write, 1, 21, 48, &lo, &hi);
    assert_true(hi != lo);
    adapt_run(pipe_write, 0, 22, 96, &lo, &hi);
    assert_true(hi != lo);
}

/* "zstd" adapts; "zstd:N" is fixed and stays at N whatever the sink. */
static void test_parse_adapt(void **state)
{
    (void)state;
    ss_zopt o;
    ss_err err;
    assert_int_equal(ss_zopt_parse("zstd", &o, &err), 0);
    assert_true(o.adapt);
    assert_int_equal(ss_zopt_parse("zstd:1", &o, &err), 0);
    assert_false(o.adapt);
    pipe_t q = { .max_read = 1 << 20, .seed = 5 };
    ss_zenc *e;
    assert_int_equal(ss_zenc_new(&e, &o, pipe_write, &q, &err), 0);
    static uint8_t msg[1 << 20];
    for (int m = 0; m < 24; m++) {
        assert_int_equal(ss_zenc_write(e, msg, sizeof msg, &err), 0);
        assert_int_equal(ss_zenc_flush(e, &err), 0);
    }
    assert_int_equal(ss_zenc_level(e), 1);
    ss_zenc_free(e);
    free(q.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_bomb_bounded),
        cmocka_unit_test(test_parse_adapt),
        cmocka_unit_test(test_adapt_changes_level_and_decodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
