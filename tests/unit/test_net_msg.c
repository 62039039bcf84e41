/* Messages: every type round-trips; hostile frames fail with a clear error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/net/msg.h"

/* Encode m, decode the single frame back into *out. */
static int roundtrip(const ss_msg *m, ss_wbuf *w, ss_frame_dec *d, ss_msg *out, ss_err *err)
{
    ss_frame f;
    size_t used;
    ss_wbuf_init(w, SS_FRAME_MAX_PAYLOAD + SS_FRAME_HDR);
    if (ss_msg_encode(w, m, err) < 0)
        return -1;
    ss_frame_dec_init(d, 0);
    assert_int_equal(ss_frame_dec_feed(d, w->p, w->len, &used, &f, err), 1);
    assert_int_equal(used, w->len);
    return ss_msg_decode(&f, out, err);
}

/* Decode a frame built by hand from a payload. */
static int decode_raw(uint8_t type, const void *payload, size_t len, ss_msg *out, ss_err *err)
{
    ss_frame f = { .type = type, .flags = 0, .len = (uint32_t)len, .payload = payload };
    return ss_msg_decode(&f, out, err);
}

static void done(ss_wbuf *w, ss_frame_dec *d, ss_msg *m)
{
    ss_msg_free(m);
    ss_frame_dec_free(d);
    ss_wbuf_free(w);
}

static void test_hello_and_auth(void **state)
{
    (void)state;
    ss_wbuf w;
    ss_frame_dec d;
    ss_msg out;
    ss_err err;
    ss_msg m = { .type = SS_MSG_HELLO,
                 .u.hello = { SS_PROTO_VERSION, SS_CAP_ZSTD | 0x100, 32768, 1 << 20 } };
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_int_equal(out.type, SS_MSG_HELLO);
    assert_int_equal(out.u.hello.caps, SS_CAP_ZSTD | 0x100);
    assert_int_equal(out.u.hello.block_size, 32768);
    assert_int_equal(out.u.hello.chunk_size, 1 << 20);
    done(&w, &d, &out);

    m.type = SS_MSG_AUTH_RESPONSE;
    for (int i = 0; i < 32; i++) {
        m.u.response.nonce[i] = (uint8_t)i;
        m.u.response.mac[i] = (uint8_t)(255 - i);
    }
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_memory_equal(out.u.response.nonce, m.u.response.nonce, 32);
    assert_memory_equal(out.u.response.mac, m.u.response.mac, 32);
    done(&w, &d, &out);

    m.type = SS_MSG_AUTH_CHALLENGE;
    memset(m.u.challenge.nonce, 0xab, 32);
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_memory_equal(out.u.challenge.nonce, m.u.challenge.nonce, 32);
    done(&w, &d, &out);

    m.type = SS_MSG_AUTH_OK;
    memset(m.u.auth_ok.mac, 0xcd, 32);
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_memory_equal(out.u.auth_ok.mac, m.u.auth_ok.mac, 32);
    done(&w, &d, &out);
}

static void test_simple_messages(void **state)
{
    (void)state;
    ss_wbuf w;
    ss_frame_dec d;
    ss_msg out;
    ss_err err;
    ss_msg m = { .type = SS_MSG_LIST_REQ, .u.list_req.path = "base/1" };
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_string_equal(out.u.list_req.path, "base/1");
    done(&w, &d, &out);

    m.u.list_req.path = NULL;
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_null(out.u.list_req.path);
    done(&w, &d, &out);

    ss_msg_type empties[] = { SS_MSG_LIST_END, SS_MSG_END };
    for (int i = 0; i < 2; i++) {
        m.type = empties[i];
        assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
        assert_int_equal(out.type, empties[i]);
        done(&w, &d, &out);
    }

    m.type = SS_MSG_RANGE_END;
    m.u.range_end.id = 0x1122334455667788ull;
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_true(out.u.range_end.id == 0x1122334455667788ull);
    done(&w, &d, &out);

    ss_err e = { .kind = SS_ECHANGED };
    strcpy(e.msg, "base/1/1234 changed size\x1b[31m while read");
    ss_msg_error_set(&m, 42, &e);
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_int_equal(out.u.error.id, 42);
    assert_int_equal(out.u.error.kind, SS_ECHANGED);
    assert_string_equal(out.u.error.text, "base/1/1234 changed size?[31m while read");
    done(&w, &d, &out);
}

static void test_list_entries_batched(void **state)
{
    (void)state;
    enum { N = 1000 };
    ss_entry *e = calloc(N, sizeof *e);
    char (*names)[64] = calloc(N, 64);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], 64, "base/16384/%d", 10000 + i);
        e[i].path = names[i];
        e[i].type = (ss_ftype)(i % 4);
        e[i].link = e[i].type == SS_FT_LNK ? "/mnt/tblspc/../x" : NULL;
        e[i].size = (uint64_t)i << 33;
        e[i].mtime_sec = -5 + i;
        e[i].mtime_nsec = 999999999 - i;
        e[i].mode = 0700 | (uint32_t)(i & 07000);
        e[i].uid = 1000u + (uint32_t)i;
        e[i].gid = 0xfffffffeu;
    }
    ss_wbuf w;
    ss_err err;
    ss_wbuf_init(&w, 1 << 24);
    size_t sent = 0, frames = 0;
    while (sent < N) {
        size_t taken;
        assert_int_equal(ss_msg_encode_list(&w, e + sent, N - sent, 4096, &taken, &err), 0);
        assert_true(taken > 0);
        sent += taken;
        frames++;
    }
    assert_true(frames > 5);

    ss_frame_dec d;
    ss_frame_dec_init(&d, 0);
    size_t pos = 0, got = 0;
    while (pos < w.len) {
        ss_frame f;
        size_t used;
        int rc = ss_frame_dec_feed(&d, w.p + pos, w.len - pos, &used, &f, &err);
        pos += used;
        assert_int_equal(rc, 1);
        assert_true(f.len <= 4096);
        ss_msg m;
        assert_int_equal(ss_msg_decode(&f, &m, &err), 0);
        assert_int_equal(m.type, SS_MSG_LIST_ENTRY);
        for (size_t i = 0; i < m.u.list.n; i++, got++) {
            const ss_entry *a = &m.u.list.v[i], *b = &e[got];
            assert_string_equal(a->path, b->path);
            assert_int_equal(a->type, b->type);
            if (b->link)
                assert_string_equal(a->link, b->link);
            else
                assert_null(a->link);
            assert_true(a->size == b->size);
            assert_true(a->mtime_sec == b->mtime_sec);
            assert_int_equal(a->mtime_nsec, b->mtime_nsec);
            assert_int_equal(a->mode, b->mode);
            assert_int_equal(a->uid, b->uid);
            assert_int_equal(a->gid, b->gid);
        }
        ss_msg_free(&m);
    }
    assert_int_equal(got, N);
    ss_frame_dec_free(&d);
    ss_wbuf_free(&w);
    free(e);
    free(names);
}

static void test_range_req_and_data(void **state)
{
    (void)state;
    ss_wbuf w;
    ss_frame_dec d;
    ss_msg out;
    ss_err err;
    ss_sig sigs[16];
    for (int i = 0; i < 16; i++)
        sigs[i] = (ss_sig){ (uint64_t)i * 0x0101010101010101ull, ~(uint64_t)i };
    ss_msg m = { .type = SS_MSG_RANGE_REQ,
                 .u.range_req = { .id = 7, .path = "global/pg_control", .file_size = 20 * 8192 + 100,
                                  .off = 4 * 8192, .len = 16 * 8192 + 100, .block_size = 8192,
                                  .last = 1, .compare = 1, .sigs = sigs, .nsigs = 16 } };
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    const ss_msg_range_req *q = &out.u.range_req;
    assert_int_equal(q->id, 7);
    assert_string_equal(q->path, "global/pg_control");
    assert_true(q->file_size == 20 * 8192 + 100 && q->off == 4 * 8192);
    assert_true(q->len == 16 * 8192 + 100);
    assert_int_equal(q->block_size, 8192);
    assert_true(q->last && q->compare);
    assert_int_equal(q->nsigs, 16);
    assert_memory_equal(q->sigs, sigs, sizeof sigs);
    done(&w, &d, &out);

    /* More signatures than blocks: refused even when encoding. */
    ss_sig many[20] = { { 0, 0 } };
    m.u.range_req.sigs = many;
    m.u.range_req.nsigs = 20;
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), -1);
    ss_wbuf_free(&w);

    static uint8_t data[100000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 31 + 1);
    for (int k = SS_HASH_XXH3_64; k <= SS_HASH_XXH3_128; k++) {
        ss_msg r = { .type = SS_MSG_RANGE_DATA,
                     .u.range_data = { .id = 9, .off = 1ull << 40, .len = sizeof data,
                                       .hash_kind = (ss_hash_kind)k, .data = data } };
        assert_int_equal(roundtrip(&r, &w, &d, &out, &err), 0);
        const ss_msg_range_data *rd = &out.u.range_data;
        assert_true(rd->off == 1ull << 40);
        assert_int_equal(rd->len, sizeof data);
        assert_memory_equal(rd->data, data, sizeof data);
        assert_int_equal(ss_msg_range_data_verify(rd, &err), 0);
        /* A flipped bit in transit is caught by the checksum. */
        ((uint8_t *)rd->data)[500] ^= 1;
        assert_int_equal(ss_msg_range_data_verify(rd, &err), -1);
        assert_non_null(strstr(err.msg, "checksum mismatch"));
        done(&w, &d, &out);
    }
}

/* A valid RANGE_REQ payload with a chosen path, counts and sizes. */
static size_t range_req_payload(uint8_t *buf, size_t cap, const char *path, uint64_t fsize,
                                uint64_t off, uint64_t len, uint32_t bs, uint32_t nsigs,
                                size_t sig_bytes)
{
    ss_wbuf w;
    ss_wbuf_init(&w, cap);
    ss_wbuf_u64(&w, 1);
    ss_wbuf_u16(&w, (uint16_t)strlen(path));
    ss_wbuf_bytes(&w, path, strlen(path));
    ss_wbuf_u64(&w, fsize);
    ss_wbuf_u64(&w, off);
    ss_wbuf_u64(&w, len);
    ss_wbuf_u32(&w, bs);
    ss_wbuf_u8(&w, 2);
    ss_wbuf_u32(&w, nsigs);
    for (size_t i = 0; i < sig_bytes; i++)
        ss_wbuf_u8(&w, 0x5a);
    assert_false(w.bad);
    size_t n = w.len;
    memcpy(buf, w.p, n);
    ss_wbuf_free(&w);
    return n;
}

static void expect_refused(uint8_t type, const void *p, size_t n, const char *needle)
{
    ss_msg m;
    ss_err err = { 0 };
    assert_int_equal(decode_raw(type, p, n, &m, &err), -1);
    assert_true(err.kind == SS_EPROTO);
    if (needle && !strstr(err.msg, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_hostile_range_req(void **state)
{
    (void)state;
    static uint8_t b[1 << 16];
    size_t n;
    n = range_req_payload(b, sizeof b, "base/1/2", 65536, 0, 65536, 8192, 8, 8 * 16);
    ss_msg m;
    ss_err err;
    assert_int_equal(decode_raw(SS_MSG_RANGE_REQ, b, n, &m, &err), 0);
    ss_msg_free(&m);

    const char *bad_paths[] = { "../etc/passwd", "/etc/passwd", "a/../../b", "a//b", "./a",
                                "a/.", "" };
    for (size_t i = 0; i < sizeof bad_paths / sizeof bad_paths[0]; i++) {
        n = range_req_payload(b, sizeof b, bad_paths[i], 65536, 0, 65536, 8192, 0, 0);
        expect_refused(SS_MSG_RANGE_REQ, b, n, "path");
    }
    /* A NUL inside the path. */
    n = range_req_payload(b, sizeof b, "base/1x2", 65536, 0, 65536, 8192, 0, 0);
    b[8 + 2 + 6] = 0;
    expect_refused(SS_MSG_RANGE_REQ, b, n, "NUL");

    /* Huge signature count with no bytes behind it. */
    n = range_req_payload(b, sizeof b, "f", 65536, 0, 65536, 8192, 0xffffffffu, 0);
    expect_refused(SS_MSG_RANGE_REQ, b, n, "signatures");
    /* Count fits the blocks but not the bytes. */
    n = range_req_payload(b, sizeof b, "f", 65536, 0, 65536, 8192, 8, 7 * 16);
    expect_refused(SS_MSG_RANGE_REQ, b, n, "remain");
    /* Range past the end of the file, with overflow. */
    n = range_req_payload(b, sizeof b, "f", 65536, UINT64_MAX - 8191, 8192, 8192, 0, 0);
    expect_refused(SS_MSG_RANGE_REQ, b, n, "past file size");
    /* Length above the chunk limit, odd block size, misaligned offset. */
    n = range_req_payload(b, sizeof b, "f", 1ull << 40, 0, 1ull << 30, 8192, 0, 0);
    expect_refused(SS_MSG_RANGE_REQ, b, n, "limit");
    n = range_req_payload(b, sizeof b, "f", 65536, 0, 65536, 7, 0, 0);
    expect_refused(SS_MSG_RANGE_REQ, b, n, "block size");
    n = range_req_payload(b, sizeof b, "f", 65536, 100, 8192, 8192, 0, 0);
    expect_refused(SS_MSG_RANGE_REQ, b, n, "multiple");
    /* Truncated at every length. */
    n = range_req_payload(b, sizeof b, "base/1/2", 65536, 0, 65536, 8192, 8, 8 * 16);
    for (size_t cut = 0; cut < n; cut++)
        expect_refused(SS_MSG_RANGE_REQ, b, cut, NULL);
}

static void test_hostile_other(void **state)
{
    (void)state;
    ss_msg m;
    ss_err err;
    uint8_t b[256];
    ss_wbuf w;

    /* Unknown type. */
    expect_refused(200, "", 0, "unknown message type");
    expect_refused(0, "", 0, "unknown message type");

    /* Wrong version, bad magic, trailing bytes. */
    ss_wbuf_init(&w, sizeof b);
    ss_wbuf_u32(&w, SS_PROTO_MAGIC);
    ss_wbuf_u16(&w, 2);
    ss_wbuf_u32(&w, 0);
    ss_wbuf_u32(&w, 8192);
    ss_wbuf_u32(&w, 1 << 20);
    expect_refused(SS_MSG_HELLO, w.p, w.len, "protocol version 2");
    w.p[5] = 1;
    assert_int_equal(decode_raw(SS_MSG_HELLO, w.p, w.len, &m, &err), 0);
    w.p[0] = 'G';
    expect_refused(SS_MSG_HELLO, w.p, w.len, "magic");
    w.p[0] = 'S';
    ss_wbuf_u8(&w, 0);
    expect_refused(SS_MSG_HELLO, w.p, w.len, "trailing");
    ss_wbuf_free(&w);
    expect_refused(SS_MSG_END, "x", 1, "trailing");
    expect_refused(SS_MSG_AUTH_OK, b, 31, "too short");

    /* LIST_ENTRY with a huge count, then with unsafe paths. */
    uint8_t huge[4] = { 0xff, 0xff, 0xff, 0xff };
    expect_refused(SS_MSG_LIST_ENTRY, huge, 4, "claims");
    const char *bad[] = { "..", "/abs", "a/../b", "a/" };
    for (int i = 0; i < 4; i++) {
        ss_entry e = { .path = (char *)"ok", .type = SS_FT_REG };
        size_t taken;
        ss_wbuf_init(&w, 1 << 16);
        assert_int_equal(ss_msg_encode_list(&w, &e, 1, 0, &taken, &err), 0);
        /* Swap the path for a hostile one: rebuild by hand. */
        ss_wbuf_free(&w);
        ss_wbuf_init(&w, 1 << 16);
        ss_wbuf_u32(&w, 1);
        ss_wbuf_u8(&w, SS_FT_REG);
        ss_wbuf_u32(&w, 0644);
        ss_wbuf_u32(&w, 0);
        ss_wbuf_u32(&w, 0);
        ss_wbuf_u64(&w, 0);
        ss_wbuf_u64(&w, 0);
        ss_wbuf_u32(&w, 0);
        ss_wbuf_str(&w, bad[i]);
        ss_wbuf_str(&w, NULL);
        expect_refused(SS_MSG_LIST_ENTRY, w.p, w.len, "unsafe path");
        ss_wbuf_free(&w);
    }
    /* The encoder refuses to send an unsafe path too. */
    ss_entry e = { .path = (char *)"../x", .type = SS_FT_REG };
    size_t taken;
    ss_wbuf_init(&w, 1 << 16);
    assert_int_equal(ss_msg_encode_list(&w, &e, 1, 0, &taken, &err), -1);
    assert_int_equal(w.len, 0);
    ss_wbuf_free(&w);

    /* LIST_REQ with "..". */
    ss_wbuf_init(&w, 64);
    ss_wbuf_str(&w, "base/..");
    expect_refused(SS_MSG_LIST_REQ, w.p, w.len, "unsafe path");
    ss_wbuf_free(&w);

    /* RANGE_DATA whose length disagrees with the frame. */
    ss_wbuf_init(&w, 256);
    ss_wbuf_u64(&w, 1);
    ss_wbuf_u64(&w, 0);
    ss_wbuf_u32(&w, 0xffffffffu);
    ss_wbuf_u8(&w, SS_HASH_XXH3_128);
    ss_wbuf_u64(&w, 0);
    ss_wbuf_u64(&w, 0);
    ss_wbuf_bytes(&w, "abcd", 4);
    expect_refused(SS_MSG_RANGE_DATA, w.p, w.len, "says");
    w.p[16 + 3] = 4;
    w.p[16] = w.p[17] = w.p[18] = 0;
    w.p[20] = 9;
    expect_refused(SS_MSG_RANGE_DATA, w.p, w.len, "hash kind");
    ss_wbuf_free(&w);

    /* ERROR with an unknown kind. */
    ss_wbuf_init(&w, 64);
    ss_wbuf_u64(&w, 0);
    ss_wbuf_u8(&w, 99);
    ss_wbuf_str(&w, "x");
    expect_refused(SS_MSG_ERROR, w.p, w.len, "error kind");
    ss_wbuf_free(&w);
}

/* SS_CAP_EXT messages: FILE_REQ / FILE_DATA, RANGE_GONE, PING / PONG, a
 * LIST_END with the root's attributes, RANGE_REQ's live flag. */
static void test_ext_messages(void **state)
{
    (void)state;
    ss_wbuf w;
    ss_frame_dec d;
    ss_msg out;
    ss_err err;
    ss_msg m;
    memset(&m, 0, sizeof m);
    m.type = SS_MSG_FILE_REQ;
    m.u.file_req = (ss_msg_file_req){ 42, "global/pg_control", 8192 };
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_true(out.u.file_req.id == 42);
    assert_string_equal(out.u.file_req.path, "global/pg_control");
    assert_int_equal(out.u.file_req.max, 8192);
    done(&w, &d, &out);

    m.type = SS_MSG_FILE_DATA;
    m.u.file_data = (ss_msg_file_data){ .id = 42, .len = 5, .data = "hello" };
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_int_equal(out.u.file_data.absent, 0);
    assert_int_equal(out.u.file_data.len, 5);
    assert_memory_equal(out.u.file_data.data, "hello", 5);
    assert_int_equal(ss_msg_file_data_verify(&out.u.file_data, &err), 0);
    /* A flipped byte is caught. */
    ((uint8_t *)out.u.file_data.data)[0] ^= 1;
    assert_int_equal(ss_msg_file_data_verify(&out.u.file_data, &err), -1);
    assert_non_null(strstr(err.msg, "corrupted"));
    done(&w, &d, &out);
    m.u.file_data = (ss_msg_file_data){ .id = 43, .absent = 1 };
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_int_equal(out.u.file_data.absent, 1);
    assert_int_equal(out.u.file_data.len, 0);
    done(&w, &d, &out);
    /* The encoder refuses what the decoder would. */
    ss_wbuf_init(&w, 1 << 20);
    m.u.file_data = (ss_msg_file_data){ .id = 43, .absent = 1, .len = 1, .data = "x" };
    assert_int_equal(ss_msg_encode(&w, &m, &err), -1);
    m.type = SS_MSG_FILE_REQ;
    m.u.file_req = (ss_msg_file_req){ 1, "../x", 10 };
    assert_int_equal(ss_msg_encode(&w, &m, &err), -1);
    m.u.file_req = (ss_msg_file_req){ 1, "x", SS_NET_MAX_CHUNK + 1 };
    assert_int_equal(ss_msg_encode(&w, &m, &err), -1);
    ss_wbuf_free(&w);

    ss_msg_type ids[] = { SS_MSG_RANGE_GONE };
    m.type = ids[0];
    m.u.range_end.id = 77;
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_true(out.u.range_end.id == 77);
    done(&w, &d, &out);
    ss_msg_type empties[] = { SS_MSG_PING, SS_MSG_PONG, SS_MSG_LIST_END };
    for (int i = 0; i < 3; i++) {
        memset(&m, 0, sizeof m);
        m.type = empties[i];
        assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
        assert_int_equal(out.type, empties[i]);
        assert_int_equal(w.len, SS_FRAME_HDR);
        done(&w, &d, &out);
    }
    m.type = SS_MSG_LIST_END;
    m.u.list_end = (ss_msg_list_end){ 1, 0750, 26, 27, -5, 999999999 };
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_int_equal(out.u.list_end.has_root, 1);
    assert_int_equal(out.u.list_end.mode, 0750);
    assert_int_equal(out.u.list_end.uid, 26);
    assert_int_equal(out.u.list_end.gid, 27);
    assert_true(out.u.list_end.mtime_sec == -5);
    assert_true(out.u.list_end.mtime_nsec == 999999999);
    done(&w, &d, &out);

    ss_sig sig = { 1, 2 };
    m.type = SS_MSG_RANGE_REQ;
    m.u.range_req = (ss_msg_range_req){ .id = 9, .path = "base/1/2", .file_size = 8192,
                                        .len = 8192, .block_size = 8192, .last = 1,
                                        .live = 1, .sigs = &sig, .nsigs = 1 };
    assert_int_equal(roundtrip(&m, &w, &d, &out, &err), 0);
    assert_int_equal(out.u.range_req.live, 1);
    assert_int_equal(out.u.range_req.compare, 0);
    done(&w, &d, &out);
}

static void test_hostile_ext(void **state)
{
    (void)state;
    ss_wbuf w;
    /* FILE_REQ: unsafe path, limit too large, truncated, trailing. */
    const char *bad[] = { "../x", "/etc/passwd", "a//b", "" };
    for (size_t i = 0; i < 4; i++) {
        ss_wbuf_init(&w, 1 << 10);
        ss_wbuf_u64(&w, 1);
        ss_wbuf_str(&w, bad[i]);
        ss_wbuf_u32(&w, 100);
        expect_refused(SS_MSG_FILE_REQ, w.p, w.len, "path");
        ss_wbuf_free(&w);
    }
    ss_wbuf_init(&w, 1 << 10);
    ss_wbuf_u64(&w, 1);
    ss_wbuf_str(&w, "PG_VERSION");
    ss_wbuf_u32(&w, SS_NET_MAX_CHUNK + 1);
    expect_refused(SS_MSG_FILE_REQ, w.p, w.len, "limit");
    for (size_t cut = 0; cut < w.len; cut++)
        expect_refused(SS_MSG_FILE_REQ, w.p, cut, NULL);
    ss_wbuf_u8(&w, 0);
    expect_refused(SS_MSG_FILE_REQ, w.p, w.len, NULL);
    ss_wbuf_free(&w);

    /* FILE_DATA: length disagreeing with the frame, a length above the
     * limit with no bytes, an unknown status, an absent file with data or
     * a hash. */
    uint32_t lens[] = { 6, 4, SS_NET_MAX_CHUNK + 1, 0xffffffffu };
    for (size_t i = 0; i < 4; i++) {
        ss_wbuf_init(&w, 1 << 10);
        ss_wbuf_u64(&w, 1);
        ss_wbuf_u8(&w, 0);
        ss_wbuf_u32(&w, lens[i]);
        ss_wbuf_u64(&w, 0);
        ss_wbuf_u64(&w, 0);
        ss_wbuf_bytes(&w, "hello", 5);
        expect_refused(SS_MSG_FILE_DATA, w.p, w.len, "FILE_DATA");
        ss_wbuf_free(&w);
    }
    ss_wbuf_init(&w, 1 << 10);
    ss_wbuf_u64(&w, 1);
    ss_wbuf_u8(&w, 2);
    ss_wbuf_u32(&w, 0);
    ss_wbuf_u64(&w, 0);
    ss_wbuf_u64(&w, 0);
    expect_refused(SS_MSG_FILE_DATA, w.p, w.len, "status");
    w.p[8] = 1;
    ss_msg m;
    ss_err err;
    assert_int_equal(decode_raw(SS_MSG_FILE_DATA, w.p, w.len, &m, &err), 0);
    w.p[w.len - 1] = 1;
    expect_refused(SS_MSG_FILE_DATA, w.p, w.len, "absent");
    w.p[w.len - 1] = 0;
    ss_wbuf_u8(&w, 'x');
    w.p[12] = 1;            /* length 1: data for an absent file */
    expect_refused(SS_MSG_FILE_DATA, w.p, w.len, "absent");
    ss_wbuf_free(&w);

    /* LIST_END: anything but nothing or the whole root record. */
    ss_wbuf_init(&w, 1 << 10);
    ss_wbuf_u32(&w, 0700);
    ss_wbuf_u32(&w, 1);
    ss_wbuf_u32(&w, 1);
    ss_wbuf_u64(&w, 0);
    ss_wbuf_u32(&w, 0);
    assert_int_equal(decode_raw(SS_MSG_LIST_END, w.p, w.len, &m, &err), 0);
    for (size_t cut = 1; cut < w.len; cut++)
        expect_refused(SS_MSG_LIST_END, w.p, cut, "LIST_END");
    w.p[2] = 0x10;          /* mode 0x100700 */
    expect_refused(SS_MSG_LIST_END, w.p, w.len, "mode");
    w.p[2] = 0x01;
    w.p[w.len - 4] = 0x3c;  /* nsec >= 10^9 */
    expect_refused(SS_MSG_LIST_END, w.p, w.len, "mtime");
    w.p[w.len - 4] = 0;
    ss_wbuf_u8(&w, 0);
    expect_refused(SS_MSG_LIST_END, w.p, w.len, "trailing");
    ss_wbuf_free(&w);

    /* PING / PONG carry nothing; RANGE_GONE just an id. */
    expect_refused(SS_MSG_PING, "x", 1, "trailing");
    expect_refused(SS_MSG_PONG, "x", 1, "trailing");
    expect_refused(SS_MSG_RANGE_GONE, "1234567", 7, "RANGE_GONE");
    /* RANGE_REQ flags beyond live stay refused. */
    static uint8_t b[1 << 12];
    size_t n = range_req_payload(b, sizeof b, "f", 8192, 0, 8192, 8192, 0, 0);
    b[8 + 2 + 1 + 8 + 8 + 8 + 4] = 0x8;
    expect_refused(SS_MSG_RANGE_REQ, b, n, "flags");
    b[8 + 2 + 1 + 8 + 8 + 8 + 4] = 0x4;
    assert_int_equal(decode_raw(SS_MSG_RANGE_REQ, b, n, &m, &err), 0);
    assert_int_equal(m.u.range_req.live, 1);
    ss_msg_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_and_auth),
        cmocka_unit_test(test_simple_messages),
        cmocka_unit_test(test_list_entries_batched),
        cmocka_unit_test(test_range_req_and_data),
        cmocka_unit_test(test_hostile_range_req),
        cmocka_unit_test(test_hostile_other),
        cmocka_unit_test(test_ext_messages),
        cmocka_unit_test(test_hostile_ext),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
