/* Frames: round trip in pieces of every size, limits, truncation at EOF. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/net/frame.h"

static void build_three(ss_wbuf *w)
{
    ss_err err;
    uint8_t big[70000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    ss_wbuf_init(w, 1 << 20);
    assert_int_equal(ss_frame_put(w, 3, "abc", 3, &err), 0);
    assert_int_equal(ss_frame_put(w, 4, NULL, 0, &err), 0);
    assert_int_equal(ss_frame_put(w, 5, big, sizeof big, &err), 0);
}

static void check_three(const uint8_t *types, const uint32_t *lens, int n)
{
    assert_int_equal(n, 3);
    assert_int_equal(types[0], 3);
    assert_int_equal(lens[0], 3);
    assert_int_equal(types[1], 4);
    assert_int_equal(lens[1], 0);
    assert_int_equal(types[2], 5);
    assert_int_equal(lens[2], 70000);
}

/* Feed the stream in pieces of `step` bytes. */
static void decode_in_steps(const ss_wbuf *w, size_t step)
{
    ss_frame_dec d;
    ss_err err;
    ss_frame f;
    uint8_t types[4];
    uint32_t lens[4];
    int n = 0;
    ss_frame_dec_init(&d, 0);
    for (size_t pos = 0; pos < w->len;) {
        size_t piece = w->len - pos < step ? w->len - pos : step;
        size_t off = 0;
        while (off < piece) {
            size_t used;
            int rc = ss_frame_dec_feed(&d, w->p + pos + off, piece - off, &used, &f, &err);
            assert_true(rc >= 0);
            off += used;
            if (rc == 1) {
                assert_true(n < 4);
                types[n] = f.type;
                lens[n] = f.len;
                if (f.type == 3)
                    assert_memory_equal(f.payload, "abc", 3);
                if (f.type == 5)
                    assert_int_equal(f.payload[69999], (uint8_t)(69999 * 7));
                n++;
            } else {
                assert_int_equal(off, piece);
            }
        }
        pos += piece;
    }
    assert_int_equal(ss_frame_dec_eof(&d, &err), 0);
    check_three(types, lens, n);
    ss_frame_dec_free(&d);
}

static void test_roundtrip_pieces(void **state)
{
    (void)state;
    ss_wbuf w;
    build_three(&w);
    size_t steps[] = { 1, 2, 5, 6, 7, 4095, 65536, 1 << 20 };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        decode_in_steps(&w, steps[i]);
    ss_wbuf_free(&w);
}

static void test_truncated_is_detected_at_eof(void **state)
{
    (void)state;
    ss_wbuf w;
    build_three(&w);
    /* Cut inside the header and inside the payload of the last frame. */
    size_t cuts[] = { 1, 5, 9 + 6 + 3, w.len - 1 };
    for (size_t i = 0; i < 4; i++) {
        ss_frame_dec d;
        ss_err err;
        ss_frame f;
        size_t pos = 0, used;
        ss_frame_dec_init(&d, 0);
        while (pos < cuts[i]) {
            int rc = ss_frame_dec_feed(&d, w.p + pos, cuts[i] - pos, &used, &f, &err);
            assert_true(rc >= 0);
            pos += used;
        }
        assert_int_equal(ss_frame_dec_eof(&d, &err), -1);
        assert_int_equal(err.kind, SS_EPROTO);
        assert_non_null(strstr(err.msg, "ended"));
        ss_frame_dec_free(&d);
    }
    ss_wbuf_free(&w);
}

static void test_oversized_length_refused_without_allocation(void **state)
{
    (void)state;
    uint8_t hdr[SS_FRAME_HDR] = { 0xff, 0xff, 0xff, 0xff, 1, 0 };
    ss_frame_dec d;
    ss_err err;
    ss_frame f;
    size_t used;
    ss_frame_dec_init(&d, 0);
    assert_int_equal(ss_frame_dec_feed(&d, hdr, sizeof hdr, &used, &f, &err), -1);
    assert_int_equal(err.kind, SS_EPROTO);
    assert_non_null(strstr(err.msg, "larger than the limit"));
    assert_null(d.buf);
    /* The decoder stays failed. */
    assert_int_equal(ss_frame_dec_feed(&d, hdr, 1, &used, &f, &err), -1);
    ss_frame_dec_free(&d);

    /* A smaller limit is honoured, and one byte over it fails. */
    ss_frame_dec_init(&d, 100);
    uint8_t h2[SS_FRAME_HDR] = { 0, 0, 0, 101, 1, 0 };
    assert_int_equal(ss_frame_dec_feed(&d, h2, sizeof h2, &used, &f, &err), -1);
    ss_frame_dec_free(&d);
}

static void test_claimed_length_allocates_only_what_arrives(void **state)
{
    (void)state;
    uint8_t hdr[SS_FRAME_HDR + 10] = { 0x01, 0x00, 0x00, 0x00, 1, 0 };
    ss_frame_dec d;
    ss_err err;
    ss_frame f;
    size_t used;
    ss_frame_dec_init(&d, 0);
    assert_int_equal(ss_frame_dec_feed(&d, hdr, sizeof hdr, &used, &f, &err), 0);
    assert_true(d.cap <= 4096);
    assert_int_equal(ss_frame_dec_eof(&d, &err), -1);
    assert_non_null(strstr(err.msg, "truncated frame"));
    ss_frame_dec_free(&d);
}

static void test_unknown_flags_refused(void **state)
{
    (void)state;
    uint8_t hdr[SS_FRAME_HDR] = { 0, 0, 0, 0, 1, 0x80 };
    ss_frame_dec d;
    ss_err err;
    ss_frame f;
    size_t used;
    ss_frame_dec_init(&d, 0);
    assert_int_equal(ss_frame_dec_feed(&d, hdr, sizeof hdr, &used, &f, &err), -1);
    assert_non_null(strstr(err.msg, "flags"));
    ss_frame_dec_free(&d);
}

static void test_encoder_ceiling(void **state)
{
    (void)state;
    ss_wbuf w;
    ss_err err;
    ss_wbuf_init(&w, 16);
    assert_int_equal(ss_frame_put(&w, 1, "0123456789abcdef", 16, &err), -1);
    assert_int_equal(err.kind, SS_EINTERNAL);
    ss_wbuf_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_pieces),
        cmocka_unit_test(test_truncated_is_detected_at_eof),
        cmocka_unit_test(test_oversized_length_refused_without_allocation),
        cmocka_unit_test(test_claimed_length_allocates_only_what_arrives),
        cmocka_unit_test(test_unknown_flags_refused),
        cmocka_unit_test(test_encoder_ceiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
