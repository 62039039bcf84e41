/* test_walreader — the WAL reader on synthetic WAL built in memory: records
 * crossing pages and segments, block references of each kind, and damaged
 * input (bad CRC, bad magic, torn record, absurd lengths) that must give a
 * clear error or a clean end of WAL, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/pg/crc32c.h"
#include "engine/pg/rmgrnames.h"
#include "engine/pg/walreader.h"

#define SEG (1u << 20)
#define PAGE 1024u
#define TLI 1u
#define SYSID 7000000000000000001ull

/* ---- a small WAL writer ---- */

typedef struct {
    int major;
    uint64_t first_segno;
    uint8_t *seg[3];           /* segments first_segno.. */
    ss_lsn pos, prev;
} walgen;

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint8_t *at(walgen *g, ss_lsn lsn)
{
    uint64_t s = lsn / SEG - g->first_segno;
    assert_true(s < 3);
    return g->seg[s] + lsn % SEG;
}

static uint16_t magic_of(int major)
{
    switch (major) {
    case 12: return 0xD101;
    case 13: return 0xD106;
    case 14: return 0xD10D;
    case 15: return 0xD110;
    case 16: return 0xD113;
    default: return 0xD116;
    }
}

/* Writer starting at the page that contains `start` (page aligned). */
static void gen_init(walgen *g, int major, ss_lsn start)
{
    memset(g, 0, sizeof *g);
    g->major = major;
    g->first_segno = start / SEG;
    for (int i = 0; i < 3; i++)
        g->seg[i] = calloc(1, SEG);
    g->pos = start;
}

static void gen_free(walgen *g)
{
    for (int i = 0; i < 3; i++)
        free(g->seg[i]);
}

static void page_header(walgen *g, ss_lsn page, uint16_t info, uint32_t rem)
{
    uint8_t *p = at(g, page);
    int is_long = page % SEG == 0;
    put16(p, magic_of(g->major));
    put16(p + 2, (uint16_t)(info | (is_long ? 0x0002 : 0)));
    put32(p + 4, TLI);
    put64(p + 8, page);
    put32(p + 16, rem);
    if (is_long) {
        put64(p + 24, SYSID);
        put32(p + 32, SEG);
        put32(p + 36, PAGE);
    }
}

static uint32_t hdr_size(ss_lsn page) { return page % SEG == 0 ? 40 : 24; }

/* Write a whole record (tot_len bytes, header included) at g->pos. */
static ss_lsn gen_raw(walgen *g, const uint8_t *rec, uint32_t len)
{
    if (g->pos % PAGE == 0) {
        page_header(g, g->pos, 0, 0);
        g->pos += hdr_size(g->pos);
    }
    ss_lsn lsn = g->pos;
    uint32_t done = 0;
    while (done < len) {
        if (g->pos % PAGE == 0) {
            page_header(g, g->pos, 0x0001, len - done);
            g->pos += hdr_size(g->pos);
        }
        uint32_t room = PAGE - (uint32_t)(g->pos % PAGE);
        uint32_t n = len - done < room ? len - done : room;
        memcpy(at(g, g->pos), rec + done, n);
        done += n;
        g->pos += n;
    }
    g->pos = (g->pos + 7) & ~(ss_lsn)7;
    g->prev = lsn;
    return lsn;
}

/* Build header + body (block headers, payloads, main data) and write it. */
static ss_lsn gen_record(walgen *g, uint8_t rmid, uint8_t info, uint32_t xid,
                         const uint8_t *body, uint32_t body_len)
{
    uint32_t len = 24 + body_len;
    uint8_t *rec = malloc(len);
    put32(rec, len);
    put32(rec + 4, xid);
    put64(rec + 8, g->prev);
    rec[16] = info;
    rec[17] = rmid;
    rec[18] = rec[19] = 0;
    memcpy(rec + 24, body, body_len);
    uint32_t crc = ss_crc32c_update(SS_CRC32C_INIT, rec + 24, body_len);
    crc = ss_crc32c_final(ss_crc32c_update(crc, rec, 20));
    put32(rec + 20, crc);
    ss_lsn lsn = gen_raw(g, rec, len);
    free(rec);
    return lsn;
}

/* Body with only main data of n bytes (pattern depends on seed). */
static uint32_t body_main(uint8_t *b, uint32_t n, uint8_t seed)
{
    uint32_t o = 0;
    if (n < 256) {
        b[o++] = 255;
        b[o++] = (uint8_t)n;
    } else {
        b[o++] = 254;
        put32(b + o, n);
        o += 4;
    }
    for (uint32_t i = 0; i < n; i++)
        b[o + i] = (uint8_t)(seed + i * 7);
    return o + n;
}

static ss_wal_reader *open_reader(walgen *g, int major)
{
    ss_wal_memseg segs[3];
    for (int i = 0; i < 3; i++)
        segs[i] = (ss_wal_memseg){ TLI, g->first_segno + (uint64_t)i, 0, g->seg[i], SEG };
    ss_wal_source src;
    ss_err err;
    assert_int_equal(ss_wal_source_mem(segs, 3, SEG, &src, &err), 0);
    ss_wal_reader_config cfg = { .seg_size = SEG, .page_size = PAGE, .block_size = 8192,
                                 .pg_major = major, .tli = TLI };
    ss_wal_reader *r;
    assert_int_equal(ss_wal_reader_open(&cfg, src, &r, &err), 0);
    return r;
}

static void check_main(const ss_wal_record *rec, uint32_t n, uint8_t seed)
{
    assert_int_equal(rec->main_data_len, n);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(rec->main_data[i], (uint8_t)(seed + i * 7));
}

/* ---- tests ---- */

static void test_small_records_then_end(void **state)
{
    (void)state;
    walgen g;
    gen_init(&g, 15, 16 * (ss_lsn)SEG);
    uint8_t body[600];
    ss_lsn l[3];
    for (int i = 0; i < 3; i++)
        l[i] = gen_record(&g, 1, 0x10, 700 + (uint32_t)i, body,
                          body_main(body, 40u + (uint32_t)i, (uint8_t)i));
    ss_wal_reader *r = open_reader(&g, 15);
    ss_err err = { 0 };
    ss_wal_record rec;
    ss_lsn first;
    assert_int_equal(ss_wal_find_first(r, 16 * (ss_lsn)SEG, &first, &err), 1);
    assert_true(first == l[0]);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ss_wal_read_next(r, &rec, &err), 1);
        assert_true(rec.lsn == l[i]);
        assert_int_equal(rec.xid, 700 + i);
        assert_int_equal(rec.rmid, 1);
        assert_int_equal(rec.nblocks, 0);
        assert_true(rec.prev == (i ? l[i - 1] : 0));
        check_main(&rec, 40u + (uint32_t)i, (uint8_t)i);
    }
    assert_int_equal(ss_wal_read_next(r, &rec, &err), 0);
    assert_int_equal(ss_wal_end_reason(r), SS_WAL_END_ZERO_RECORD);
    assert_non_null(strstr(err.msg, "end of WAL"));
    assert_int_equal(ss_wal_reader_version(r), 15);
    assert_true(ss_wal_reader_sysid(r) == SYSID);
    ss_wal_reader_free(r);
    gen_free(&g);
}

/* Records of 3000 bytes span three or four 1 KiB pages each; a record whose
 * header itself is split between pages is included by the varying sizes. */
static void test_page_crossing(void **state)
{
    (void)state;
    walgen g;
    gen_init(&g, 16, 16 * (ss_lsn)SEG);
    uint8_t body[4096];
    ss_lsn l[20];
    for (int i = 0; i < 20; i++)
        l[i] = gen_record(&g, 10, 0, 1, body, body_main(body, 2990u + 8u * (uint32_t)i, (uint8_t)i));
    ss_wal_reader *r = open_reader(&g, 0);
    ss_err err = { 0 };
    ss_wal_record rec;
    ss_wal_seek(r, l[0]);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(ss_wal_read_next(r, &rec, &err), 1);
        assert_true(rec.lsn == l[i]);
        check_main(&rec, 2990u + 8u * (uint32_t)i, (uint8_t)i);
        assert_true(rec.end_lsn == (i < 19 ? l[i + 1] : g.pos));
    }
    /* Walk back along xl_prev. */
    for (int i = 19; i > 0; i--) {
        assert_int_equal(ss_wal_read_at(r, l[i], &rec, &err), 1);
        assert_true(rec.prev == l[i - 1]);
    }
    /* A position inside a record is refused. */
    assert_int_equal(ss_wal_read_at(r, l[3] + 8, &rec, &err), -1);
    /* find_first from a page that starts with a continuation. */
    ss_lsn first;
    assert_int_equal(ss_wal_find_first(r, l[5] + PAGE, &first, &err), 1);
    assert_true(first == l[6]);
    ss_wal_reader_free(r);
    gen_free(&g);
}

static void test_segment_crossing(void **state)
{
    (void)state;
    walgen g;
    ss_lsn segend = 17 * (ss_lsn)SEG;
    gen_init(&g, 15, segend - 2 * PAGE);
    uint8_t body[8192];
    ss_lsn l[4];
    for (int i = 0; i < 4; i++)
        l[i] = gen_record(&g, 11, 0, 9, body, body_main(body, 1500, (uint8_t)(i + 3)));
    assert_true(l[1] < segend && g.pos > segend);
    ss_wal_reader *r = open_reader(&g, 15);
    ss_err err = { 0 };
    ss_wal_record rec;
    ss_wal_seek(r, l[0]);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ss_wal_read_next(r, &rec, &err), 1);
        assert_true(rec.lsn == l[i]);
        check_main(&rec, 1500, (uint8_t)(i + 3));
    }
    /* The next segment (18) is not in the source. */
    g.pos = (g.pos + PAGE - 1) / PAGE * PAGE;
    ss_wal_reader_free(r);

    /* A record that reaches into a segment that does not exist is torn. */
    walgen h;
    gen_init(&h, 15, segend - 2 * PAGE);
    ss_lsn t = gen_record(&h, 11, 0, 9, body, body_main(body, 3000, 1));
    ss_wal_memseg one = { TLI, 16, 0, h.seg[0], SEG };
    ss_wal_source src;
    assert_int_equal(ss_wal_source_mem(&one, 1, SEG, &src, &err), 0);
    ss_wal_reader_config cfg = { .seg_size = SEG, .page_size = PAGE, .tli = TLI };
    assert_int_equal(ss_wal_reader_open(&cfg, src, &r, &err), 0);
    ss_wal_seek(r, t);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), 0);
    assert_int_equal(ss_wal_end_reason(r), SS_WAL_END_TORN_RECORD);
    assert_non_null(strstr(err.msg, "000000010000000000000011"));
    ss_wal_reader_free(r);
    gen_free(&h);
    gen_free(&g);
}

static void test_switch_skips_segment(void **state)
{
    (void)state;
    walgen g;
    gen_init(&g, 15, 16 * (ss_lsn)SEG);
    uint8_t body[64] = { 0 };
    ss_lsn a = gen_record(&g, 0, 0x40, 0, body, 0);  /* XLOG_SWITCH */
    g.pos = 17 * (ss_lsn)SEG;
    ss_lsn b = gen_record(&g, 1, 0, 5, body, body_main(body, 10, 0));
    ss_wal_reader *r = open_reader(&g, 15);
    ss_err err = { 0 };
    ss_wal_record rec;
    ss_wal_seek(r, a);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), 1);
    assert_true(rec.end_lsn == 17 * (ss_lsn)SEG);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), 1);
    assert_true(rec.lsn == b);
    ss_wal_reader_free(r);
    gen_free(&g);
}

/* Block references: a full-page image with a hole, a compressed one, data,
 * SAME_REL, and the origin / top-level xid ids. */
static uint32_t body_blocks(uint8_t *b, int major)
{
    uint32_t o = 0;
    b[o++] = 253; put16(b + o, 42); o += 2;                 /* origin */
    b[o++] = 252; put32(b + o, 99); o += 4;                 /* toplevel xid */
    /* block 0: plain image with hole 100..(100+8192-500), rel 1663/5/16384 blk 7 */
    b[o++] = 0; b[o++] = 0x10; put16(b + o, 0); o += 2;
    put16(b + o, 500); put16(b + o + 2, 100); b[o + 4] = (uint8_t)(0x01 | (major >= 15 ? 0x02 : 0x04)); o += 5;
    put32(b + o, 1663); put32(b + o + 4, 5); put32(b + o + 8, 16384); o += 12;
    put32(b + o, 7); o += 4;
    /* block 2: compressed image with hole + 10 bytes data, same rel, fsm fork */
    uint8_t comp = major >= 15 ? 0x08 /* lz4 */ : 0x02;
    b[o++] = 2; b[o++] = 0x80 | 0x20 | 0x10 | 1; put16(b + o, 10); o += 2;
    put16(b + o, 300); put16(b + o + 2, 64); b[o + 4] = (uint8_t)(0x01 | comp); o += 5;
    put16(b + o, 4000); o += 2;
    put32(b + o, 3); o += 4;
    /* block 5: data only, other rel */
    b[o++] = 5; b[o++] = 0x20 | 0x40; put16(b + o, 3); o += 2;
    put32(b + o, 1700); put32(b + o + 4, 6); put32(b + o + 8, 20000); o += 12;
    put32(b + o, 1234567); o += 4;
    b[o++] = 255; b[o++] = 4;                              /* main data */
    memset(b + o, 0xA1, 500); o += 500;                    /* image 0 */
    memset(b + o, 0xB2, 300); o += 300;                    /* image 2 */
    memset(b + o, 0xC3, 10); o += 10;                      /* data 2 */
    memset(b + o, 0xD4, 3); o += 3;                        /* data 5 */
    memcpy(b + o, "main", 4); o += 4;
    return o;
}

static void check_blocks(int major)
{
    walgen g;
    gen_init(&g, major, 16 * (ss_lsn)SEG);
    uint8_t body[2048];
    ss_lsn l = gen_record(&g, 10, 0, 3, body, body_blocks(body, major));
    ss_wal_reader *r = open_reader(&g, major);
    ss_err err = { 0 };
    ss_wal_record rec;
    assert_int_equal(ss_wal_read_at(r, l, &rec, &err), 1);
    assert_true(rec.has_origin);
    assert_int_equal(rec.origin, 42);
    assert_int_equal(rec.toplevel_xid, 99);
    assert_int_equal(rec.nblocks, 3);
    const ss_wal_block_ref *b = rec.blocks;
    assert_int_equal(b[0].block_id, 0);
    assert_true(b[0].has_image && b[0].apply_image && !b[0].has_data);
    assert_int_equal(b[0].img_method, SS_WAL_IMG_PLAIN);
    assert_int_equal(b[0].hole_offset, 100);
    assert_int_equal(b[0].hole_length, 8192 - 500);
    assert_int_equal(b[0].image[0], 0xA1);
    assert_int_equal(b[0].relnode, 16384);
    assert_int_equal(b[0].blkno, 7);
    assert_int_equal(b[1].block_id, 2);
    assert_int_equal(b[1].forknum, 1);
    assert_true(b[1].has_image && !b[1].apply_image && b[1].has_data);
    assert_int_equal(b[1].img_method, major >= 15 ? SS_WAL_IMG_LZ4 : SS_WAL_IMG_PGLZ);
    assert_int_equal(b[1].hole_length, 4000);
    assert_int_equal(b[1].spcoid, 1663);
    assert_int_equal(b[1].dboid, 5);
    assert_int_equal(b[1].relnode, 16384);
    assert_int_equal(b[1].image[299], 0xB2);
    assert_int_equal(b[1].data[0], 0xC3);
    assert_int_equal(b[1].data_len, 10);
    assert_int_equal(b[2].block_id, 5);
    assert_true(!b[2].has_image && b[2].has_data && b[2].will_init);
    assert_int_equal(b[2].spcoid, 1700);
    assert_int_equal(b[2].blkno, 1234567);
    assert_int_equal(b[2].data[2], 0xD4);
    assert_int_equal(rec.main_data_len, 4);
    assert_memory_equal(rec.main_data, "main", 4);
    ss_wal_reader_free(r);
    gen_free(&g);
}

static void test_blocks_v15(void **state) { (void)state; check_blocks(15); check_blocks(17); }
static void test_blocks_v14(void **state) { (void)state; check_blocks(14); }

/* Helper: one record with the given body must fail with msg containing s. */
static void expect_bad_body(const uint8_t *body, uint32_t n, const char *s)
{
    walgen g;
    gen_init(&g, 15, 16 * (ss_lsn)SEG);
    ss_lsn l = gen_record(&g, 10, 0, 3, body, n);
    ss_wal_reader *r = open_reader(&g, 15);
    ss_err err = { 0 };
    ss_wal_record rec;
    ss_wal_seek(r, l);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), -1);
    if (!strstr(err.msg, s))
        fail_msg("expected \"%s\" in \"%s\"", s, err.msg);
    assert_non_null(strstr(err.msg, "0/01000028"));
    ss_wal_reader_free(r);
    gen_free(&g);
}

static void test_bad_block_headers(void **state)
{
    (void)state;
    uint8_t b[64];
    /* same rel without a previous rel */
    uint8_t same[] = { 0, 0x80, 0, 0, 1, 0, 0, 0 };
    expect_bad_body(same, sizeof same, "same relation");
    /* out-of-order block ids */
    uint32_t o = 0;
    for (int i = 0; i < 2; i++) {
        b[o++] = 3; b[o++] = 0; b[o++] = 0; b[o++] = 0;
        memset(b + o, 1, 16); o += 16;
    }
    expect_bad_body(b, o, "out-of-order");
    /* data flag without data length */
    uint8_t nodata[] = { 0, 0x20, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0 };
    expect_bad_body(nodata, sizeof nodata, "data flag");
    /* data length beyond the record */
    uint8_t longdata[] = { 0, 0x20, 0xff, 0x7f, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0 };
    expect_bad_body(longdata, sizeof longdata, "promise");
    /* main data longer than the record */
    uint8_t longmain[] = { 254, 0xff, 0xff, 0xff, 0x0f };
    expect_bad_body(longmain, sizeof longmain, "promise");
    /* unknown block id */
    uint8_t badid[] = { 200, 0, 0, 0 };
    expect_bad_body(badid, sizeof badid, "invalid block id");
    /* image with no hole that is not a whole block */
    uint8_t img[] = { 0, 0x10, 0, 0, 0x10, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0 };
    expect_bad_body(img, sizeof img, "not block size");
    /* truncated header */
    uint8_t trunc[] = { 0, 0x10 };
    expect_bad_body(trunc, sizeof trunc, "truncated");
}

static void test_bad_crc(void **state)
{
    (void)state;
    walgen g;
    gen_init(&g, 15, 16 * (ss_lsn)SEG);
    uint8_t body[3000];
    ss_lsn l = gen_record(&g, 1, 0, 1, body, body_main(body, 2500, 0));
    at(&g, l + 2000)[0] ^= 1;  /* on the third page */
    ss_wal_reader *r = open_reader(&g, 15);
    ss_err err = { 0 };
    ss_wal_record rec;
    ss_wal_seek(r, l);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), -1);
    assert_non_null(strstr(err.msg, "incorrect CRC"));
    assert_non_null(strstr(err.msg, "0/01000028"));
    ss_wal_reader_free(r);
    gen_free(&g);
}

static void test_bad_magic(void **state)
{
    (void)state;
    walgen g;
    gen_init(&g, 15, 16 * (ss_lsn)SEG);
    uint8_t body[3000];
    ss_lsn l = gen_record(&g, 1, 0, 1, body, body_main(body, 2500, 0));
    put16(at(&g, 16 * (ss_lsn)SEG + PAGE), 0xD113);  /* a PG 16 page in PG 15 WAL */
    ss_wal_reader *r = open_reader(&g, 0);
    ss_err err = { 0 };
    ss_wal_record rec;
    ss_wal_seek(r, l);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), -1);
    assert_non_null(strstr(err.msg, "magic 0xD113"));
    assert_non_null(strstr(err.msg, "000000010000000000000010"));
    ss_wal_reader_free(r);
    /* and a garbage magic on the first page */
    put16(at(&g, 16 * (ss_lsn)SEG), 0x1234);
    r = open_reader(&g, 0);
    ss_wal_seek(r, l);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), -1);
    assert_non_null(strstr(err.msg, "unknown page magic 0x1234"));
    ss_wal_reader_free(r);
    gen_free(&g);
}

static void test_torn_record(void **state)
{
    (void)state;
    walgen g;
    gen_init(&g, 15, 16 * (ss_lsn)SEG);
    uint8_t body[3000];
    gen_record(&g, 1, 0, 1, body, body_main(body, 100, 0));
    ss_lsn l = gen_record(&g, 1, 0, 1, body, body_main(body, 2500, 0));
    memset(at(&g, 16 * (ss_lsn)SEG + 2 * PAGE), 0, PAGE);  /* third page never written */
    ss_wal_reader *r = open_reader(&g, 15);
    ss_err err = { 0 };
    ss_wal_record rec;
    ss_lsn first;
    assert_int_equal(ss_wal_find_first(r, 16 * (ss_lsn)SEG, &first, &err), 1);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), 1);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), 0);
    assert_int_equal(ss_wal_end_reason(r), SS_WAL_END_TORN_RECORD);
    char want[64];
    snprintf(want, sizeof want, "record at " SS_LSN_FMT, SS_LSN_ARGS(l));
    assert_non_null(strstr(err.msg, want));
    ss_wal_reader_free(r);

    /* A recycled page (older address) in the middle also ends the WAL. */
    put64(at(&g, 16 * (ss_lsn)SEG + 2 * PAGE) , 0);
    put16(at(&g, 16 * (ss_lsn)SEG + 2 * PAGE), 0xD110);
    put64(at(&g, 16 * (ss_lsn)SEG + 2 * PAGE) + 8, 3 * (ss_lsn)SEG + 2 * PAGE);
    r = open_reader(&g, 15);
    ss_wal_seek(r, l);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), 0);
    assert_int_equal(ss_wal_end_reason(r), SS_WAL_END_TORN_RECORD);
    assert_non_null(strstr(err.msg, "recycled"));
    ss_wal_reader_free(r);
    gen_free(&g);
}

static void test_oversized_length(void **state)
{
    (void)state;
    walgen g;
    gen_init(&g, 15, 16 * (ss_lsn)SEG);
    uint8_t body[100];
    ss_lsn l = gen_record(&g, 1, 0, 1, body, body_main(body, 50, 0));
    ss_wal_reader *r = open_reader(&g, 15);
    ss_err err = { 0 };
    ss_wal_record rec;

    put32(at(&g, l), 0xFFFFFFF0u);
    ss_wal_seek(r, l);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), -1);
    assert_non_null(strstr(err.msg, "invalid length 4294967280"));

    /* Plausible but false: 100 MB. The next page is unwritten, so this is a
     * torn record, found without allocating 100 MB. */
    put32(at(&g, l), 100u << 20);
    ss_wal_seek(r, l);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), 0);
    assert_int_equal(ss_wal_end_reason(r), SS_WAL_END_TORN_RECORD);

    /* Short of a header. */
    put32(at(&g, l), 12);
    ss_wal_seek(r, l);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), -1);
    assert_non_null(strstr(err.msg, "invalid length 12"));
    ss_wal_reader_free(r);
    gen_free(&g);
}

static void test_continuation_mismatch(void **state)
{
    (void)state;
    walgen g;
    gen_init(&g, 15, 16 * (ss_lsn)SEG);
    uint8_t body[3000];
    ss_lsn l = gen_record(&g, 1, 0, 1, body, body_main(body, 2500, 0));
    ss_lsn p2 = 16 * (ss_lsn)SEG + PAGE;
    put32(at(&g, p2) + 16, 5);  /* wrong xlp_rem_len */
    ss_wal_reader *r = open_reader(&g, 15);
    ss_err err = { 0 };
    ss_wal_record rec;
    ss_wal_seek(r, l);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), -1);
    assert_non_null(strstr(err.msg, "continues 5 bytes"));
    put16(at(&g, p2) + 2, 0);   /* no continuation flag at all */
    ss_wal_seek(r, l);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), -1);
    assert_non_null(strstr(err.msg, "continuation flag"));
    ss_wal_reader_free(r);
    gen_free(&g);
}

static void test_bad_prev_and_missing(void **state)
{
    (void)state;
    walgen g;
    gen_init(&g, 15, 16 * (ss_lsn)SEG);
    uint8_t body[100];
    ss_lsn a = gen_record(&g, 1, 0, 1, body, body_main(body, 50, 0));
    g.prev = 12345;  /* the next record lies about its predecessor */
    gen_record(&g, 1, 0, 1, body, body_main(body, 50, 0));
    ss_wal_reader *r = open_reader(&g, 15);
    ss_err err = { 0 };
    ss_wal_record rec;
    ss_wal_seek(r, a);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), 1);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), -1);
    assert_non_null(strstr(err.msg, "prev-link"));
    /* a segment the source does not have */
    assert_int_equal(ss_wal_find_first(r, 40 * (ss_lsn)SEG, &a, &err), 0);
    assert_int_equal(ss_wal_end_reason(r), SS_WAL_END_MISSING_SEGMENT);
    assert_non_null(strstr(err.msg, "000000010000000000000028 not found"));
    ss_wal_reader_free(r);
    gen_free(&g);
}

/* After a crash lost the end of a record, the next timeline's WAL starts
 * on that page with XLP_FIRST_IS_OVERWRITE_CONTRECORD: the partial record
 * is skipped and reading goes on with the first record there. */
static void test_overwrite_contrecord(void **state)
{
    (void)state;
    walgen g;
    gen_init(&g, 15, 16 * (ss_lsn)SEG);
    uint8_t body[3000];
    ss_lsn p = gen_record(&g, 1, 0, 1, body, body_main(body, 100, 0));
    gen_record(&g, 1, 0, 1, body, body_main(body, 2500, 0));
    ss_lsn page2 = 16 * (ss_lsn)SEG + PAGE;
    memset(at(&g, page2), 0, 3 * PAGE);
    g.pos = page2;
    g.prev = p;
    ss_lsn b = gen_record(&g, 0, 0x00, 0, body, body_main(body, 30, 9));
    put16(at(&g, page2) + 2, 0x0008);
    ss_wal_reader *r = open_reader(&g, 15);
    ss_err err = { 0 };
    ss_wal_record rec;
    ss_wal_seek(r, p);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), 1);
    assert_int_equal(ss_wal_read_next(r, &rec, &err), 1);
    assert_true(rec.lsn == b);
    assert_true(rec.prev == p);
    check_main(&rec, 30, 9);
    ss_wal_reader_free(r);
    gen_free(&g);
}

/* With a timeline history, each segment is read from the newest timeline
 * that begins before the segment ends. */
static void test_timeline_history(void **state)
{
    (void)state;
    walgen g;
    ss_lsn segend = 17 * (ss_lsn)SEG;
    gen_init(&g, 15, segend - 2 * PAGE);
    uint8_t body[4096];
    ss_lsn l = gen_record(&g, 1, 0, 1, body, body_main(body, 3000, 4));
    ss_wal_memseg segs[2] = { { 1, 16, 0, g.seg[0], SEG }, { 2, 17, 0, g.seg[1], SEG } };
    ss_wal_tli_range hist[2] = { { 1, 0, segend + 100 }, { 2, segend + 100, 0 } };
    ss_wal_source src;
    ss_err err = { 0 };
    assert_int_equal(ss_wal_source_mem(segs, 2, SEG, &src, &err), 0);
    ss_wal_reader_config cfg = { .seg_size = SEG, .page_size = PAGE, .history = hist,
                                 .nhistory = 2 };
    ss_wal_reader *r;
    assert_int_equal(ss_wal_reader_open(&cfg, src, &r, &err), 0);
    ss_wal_record rec;
    assert_int_equal(ss_wal_read_at(r, l, &rec, &err), 1);
    check_main(&rec, 3000, 4);
    ss_wal_reader_free(r);
    gen_free(&g);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(ss_wal_rmgr_name(0), "XLOG");
    assert_string_equal(ss_wal_rmgr_name(10), "Heap");
    assert_string_equal(ss_wal_rmgr_name(21), "LogicalMessage");
    assert_null(ss_wal_rmgr_name(22));
    assert_string_equal(ss_wal_rmgr_name(200), "custom200");
    assert_string_equal(ss_wal_fork_name(2), "vm");
    char n[25];
    ss_wal_segment_name(n, 3, 0x1FF, 16u << 20);
    assert_string_equal(n, "0000000300000001000000FF");
    assert_int_equal(ss_wal_magic_version(0xD110), 15);
    assert_int_equal(ss_wal_magic_version(0xD098), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_records_then_end),
        cmocka_unit_test(test_page_crossing),
        cmocka_unit_test(test_segment_crossing),
        cmocka_unit_test(test_switch_skips_segment),
        cmocka_unit_test(test_blocks_v15),
        cmocka_unit_test(test_blocks_v14),
        cmocka_unit_test(test_bad_block_headers),
        cmocka_unit_test(test_bad_crc),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_torn_record),
        cmocka_unit_test(test_oversized_length),
        cmocka_unit_test(test_continuation_mismatch),
        cmocka_unit_test(test_bad_prev_and_missing),
        cmocka_unit_test(test_overwrite_contrecord),
        cmocka_unit_test(test_timeline_history),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
