/* test_rewind_blocks — rewind_blocks.c, the block map of incremental
 * recovery: synthetic WAL records (written by test_rewind_walgen.h, read
 * back by the WAL reader) go into the map, and ss_rewind_map_known must
 * then say, per path of the data directory, exactly the blocks written out
 * by hand here: the right segment file (blkno / relseg_size) and fork, each
 * block once, sorted; FSM and VM forks always compared whole; relations created / truncated / dropped and databases
 * created / dropped compared whole (0); everything that is no relation
 * file compared whole (0); and a record that changes relations in an
 * unknown way refused with its LSN and resource manager. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/recovery/rewind.h"
#include "test_rewind_walgen.h"

#define RM_XLOG 0
#define RM_XACT 1
#define RM_SMGR 2
#define RM_DBASE 4
#define RM_HEAP2 9
#define RM_HEAP 10
#define RM_BTREE 11
#define SPECIAL 0x01          /* XLR_SPECIAL_REL_UPDATE */
#define TS "pg_tblspc/16500/PG_15_202209061"

/* Read every record the generator wrote from `from` and put each in m. */
static void feed_all(walgen *g, ss_rewind_map *m, ss_lsn from)
{
    ss_wal_reader *r = wg_reader(g);
    assert_non_null(r);
    ss_wal_seek(r, from);
    ss_err err = { 0 };
    int n = 0;
    for (;;) {
        ss_wal_record rec;
        int rc = ss_wal_read_next(r, &rec, &err);
        if (rc < 0)
            fail_msg("reading the synthetic WAL: %s", err.msg);
        if (rc == 0)
            break;
        if (ss_rewind_map_record(m, &rec, &err) < 0)
            fail_msg("record at %X/%08X refused: %s", SS_LSN_ARGS(rec.lsn), err.msg);
        n++;
    }
    assert_true(n > 0);
    ss_wal_reader_free(r);
    assert_int_equal(ss_rewind_map_finish(m, &err), 0);
}

/* The one record at lsn must be refused; its message names the record's
 * LSN and the words given. */
static void expect_refused(walgen *g, ss_lsn lsn, const char *w1, const char *w2)
{
    ss_wal_reader *r = wg_reader(g);
    assert_non_null(r);
    ss_err err = { 0 };
    ss_wal_record rec;
    assert_int_equal(ss_wal_read_at(r, lsn, &rec, &err), 1);
    ss_rewind_map *m = ss_rewind_map_new(131072);
    char at[32];
    snprintf(at, sizeof at, SS_LSN_FMT, SS_LSN_ARGS(lsn));
    if (ss_rewind_map_record(m, &rec, &err) != -1)
        fail_msg("the record at %s (rmid %u, info 0x%02X) was accepted", at, rec.rmid, rec.info);
    if (!strstr(err.msg, at))
        fail_msg("error does not name the LSN %s: %s", at, err.msg);
    if (w1 && !strstr(err.msg, w1))
        fail_msg("error does not say \"%s\": %s", w1, err.msg);
    if (w2 && !strstr(err.msg, w2))
        fail_msg("error does not say \"%s\": %s", w2, err.msg);
    ss_rewind_map_free(m);
    ss_wal_reader_free(r);
}

/* known(path) must be 1 with exactly want[0..nwant) (nwant 0: none). */
static void expect_blocks(ss_rewind_map *m, const char *path, const uint32_t *want, size_t nwant)
{
    const uint32_t *b = (const uint32_t *)1;
    size_t n = 777;
    if (ss_rewind_map_known(m, path, &b, &n) != 1)
        fail_msg("%s: not a relation file with known blocks", path);
    if (n != nwant)
        fail_msg("%s: %zu blocks, expected %zu", path, n, nwant);
    if (nwant == 0)
        return;
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        if (b[i] != want[i])
            fail_msg("%s: block [%zu] is %u, expected %u", path, i, b[i], want[i]);
}

static void expect_none(ss_rewind_map *m, const char *path) { expect_blocks(m, path, NULL, 0); }

/* known(path) must be 0: compared block by block. */
static void expect_compared(ss_rewind_map *m, const char *path)
{
    const uint32_t *b = NULL;
    size_t n = 0;
    if (ss_rewind_map_known(m, path, &b, &n) != 0)
        fail_msg("%s: known blocks (%zu) where a full comparison was expected", path, n);
}

static void expect_stats(ss_rewind_map *m, size_t files, uint64_t blocks, size_t rels, size_t dbs)
{
    size_t f, r, d;
    uint64_t b;
    ss_rewind_map_stats(m, &f, &b, &r, &d);
    assert_int_equal(f, files);
    assert_int_equal(b, blocks);
    assert_int_equal(r, rels);
    assert_int_equal(d, dbs);
}

/* ---- block references ---- */

static void test_block_refs(void **state)
{
    (void)state;
    walgen g;
    wg_init(&g, 1, 4 * (ss_lsn)WG_SEG);
    const uint32_t S = 131072;      /* 1 GB of 8 kB blocks */
    wg_block r1[] = { { 0, 1663, 5, 16384, 7 }, { 0, 1663, 5, 16384, 3 },
                      { 1, 1663, 5, 16384, 2 } };
    ss_lsn first = wg_record(&g, RM_HEAP, 0x00, r1, 3, "abc", 3);
    wg_block r2[] = { { 0, 1663, 5, 16384, 7 } };          /* the same page again */
    wg_record(&g, RM_HEAP, 0x10, r2, 1, NULL, 0);
    wg_block r3[] = { { 2, 1663, 5, 16384, 0 }, { 3, 1663, 5, 16384, 0 },
                      { 0, 1663, 5, 16384, 0 }, { 0, 1663, 5, 16384, S + 9 },
                      { 0, 1663, 5, 16384, 3 * S } };
    wg_record(&g, RM_HEAP2, 0x20, r3, 5, NULL, 0);
    wg_block r4[] = { { 0, 1664, 0, 1262, 1 }, { 0, 16500, 5, 16390, 4 },
                      { 0, 1663, 16400, 16384, 11 }, { 0, 1663, 5, 16384, 3 } };
    wg_record(&g, RM_BTREE, 0x30, r4, 4, NULL, 0);
    /* full-page images and hint records of XLOG count as well */
    wg_block r5[] = { { 0, 1663, 5, 16384, 5 } };
    wg_record(&g, RM_XLOG, 0xB0 /* FPI_FOR_HINT */, r5, 1, NULL, 0);

    ss_rewind_map *m = ss_rewind_map_new(S);
    assert_non_null(m);
    feed_all(&g, m, first);

    static const uint32_t main0[] = { 0, 3, 5, 7 };
    expect_blocks(m, "base/5/16384", main0, 4);
    static const uint32_t zero[] = { 0 }, nine[] = { 9 }, one[] = { 1 }, four[] = { 4 },
                          eleven[] = { 11 };
    /* the FSM and VM forks change without block references (FSM updates
     * are not logged, heap redo clears VM bits): always compared */
    expect_compared(m, "base/5/16384_fsm");
    expect_compared(m, "base/5/16384_vm");
    expect_compared(m, "base/5/16390_vm");
    expect_blocks(m, "base/5/16384_init", zero, 1);
    expect_blocks(m, "base/5/16384.1", nine, 1);
    expect_none(m, "base/5/16384.2");
    expect_blocks(m, "base/5/16384.3", zero, 1);
    expect_compared(m, "base/5/16384_fsm.1");
    expect_blocks(m, "global/1262", one, 1);
    expect_none(m, "global/1263");
    expect_blocks(m, TS "/5/16390", four, 1);
    expect_none(m, TS "/5/16384");                 /* same relfilenode, other tablespace */
    expect_blocks(m, "base/16400/16384", eleven, 1);
    expect_none(m, "base/16400/16390");
    expect_none(m, "base/5/16385");
    expect_none(m, "base/5/1259");
    /* not relation files: compared whole */
    expect_compared(m, "base/5/PG_VERSION");
    expect_compared(m, "base/5/pg_filenode.map");
    expect_compared(m, "global/pg_control");
    expect_compared(m, "pg_xact/0000");
    expect_compared(m, "pg_multixact/offsets/0000");
    expect_compared(m, "postgresql.conf");
    expect_compared(m, "pg_wal/000000010000000000000004");
    expect_compared(m, "base/5/16384_foo");
    /* a temporary relation: compared whole */
    expect_compared(m, "base/5/t3_16384");
    /* files: main 0, init, .1, .3, global, tablespace, db 16400 (the FSM
     * and VM blocks are not counted: those forks are compared whole) */
    expect_stats(m, 7, 4 + 1 + 1 + 1 + 1 + 1 + 1, 0, 0);
    ss_rewind_map_free(m);
    wg_free(&g);
}

/* Before ss_rewind_map_finish (and after a block is added behind it) the
 * lists are not sorted: the map answers 0 (compare) rather than a list. */
static void test_unfinished_map(void **state)
{
    (void)state;
    ss_rewind_map *m = ss_rewind_map_new(131072);
    ss_wal_record rec;
    memset(&rec, 0, sizeof rec);
    rec.lsn = 0x1000028;
    rec.rmid = RM_HEAP;
    rec.nblocks = 1;
    rec.blocks[0] = (ss_wal_block_ref){ .forknum = 0, .spcoid = 1663, .dboid = 5,
                                        .relnode = 16384, .blkno = 9 };
    ss_err err = { 0 };
    assert_int_equal(ss_rewind_map_record(m, &rec, &err), 0);
    expect_compared(m, "base/5/16384");
    assert_int_equal(ss_rewind_map_finish(m, &err), 0);
    static const uint32_t nine[] = { 9 }, two_nine[] = { 2, 9 };
    expect_blocks(m, "base/5/16384", nine, 1);
    rec.blocks[0].blkno = 2;
    assert_int_equal(ss_rewind_map_record(m, &rec, &err), 0);
    expect_compared(m, "base/5/16384");
    assert_int_equal(ss_rewind_map_finish(m, &err), 0);
    expect_blocks(m, "base/5/16384", two_nine, 2);
    ss_rewind_map_free(m);
}

/* A small relseg_size (as a cluster built with another RELSEG_SIZE): the
 * segment and the block within it follow it. */
static void test_small_relseg(void **state)
{
    (void)state;
    walgen g;
    wg_init(&g, 2, 9 * (ss_lsn)WG_SEG);
    wg_block b[] = { { 0, 1663, 7, 20000, 2500 }, { 0, 1663, 7, 20000, 999 },
                     { 0, 1663, 7, 20000, 1000 }, { 0, 1663, 7, 20000, 2999 },
                     { 0, 1663, 7, 20000, 2000 }, { 0, 1663, 7, 20000, 0 } };
    ss_lsn first = wg_record(&g, RM_HEAP, 0, b, 6, NULL, 0);
    ss_rewind_map *m = ss_rewind_map_new(1000);
    feed_all(&g, m, first);
    static const uint32_t s0[] = { 0, 999 }, s1[] = { 0 }, s2[] = { 0, 500, 999 };
    expect_blocks(m, "base/7/20000", s0, 2);
    expect_blocks(m, "base/7/20000.1", s1, 1);
    expect_blocks(m, "base/7/20000.2", s2, 3);
    expect_none(m, "base/7/20000.3");
    expect_stats(m, 3, 6, 0, 0);
    ss_rewind_map_free(m);
    wg_free(&g);
}

/* Thousands of relation files (the map's table grows many times), blocks
 * given in descending order and repeated. */
static void test_many_relations(void **state)
{
    (void)state;
    ss_rewind_map *m = ss_rewind_map_new(131072);
    ss_err err = { 0 };
    ss_wal_record rec;
    memset(&rec, 0, sizeof rec);
    rec.rmid = RM_HEAP;
    const uint32_t NREL = 5000;
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t r = 0; r < NREL; r++) {
            rec.lsn = 0x2000000 + 64 * (ss_lsn)r;
            rec.nblocks = 3;
            for (int i = 0; i < 3; i++)
                rec.blocks[i] = (ss_wal_block_ref){ .block_id = (uint8_t)i, .forknum = 0,
                                                    .spcoid = 1663, .dboid = 5,
                                                    .relnode = 30000 + r,
                                                    .blkno = 100 - 10 * (uint32_t)i + r % 3 };
            assert_int_equal(ss_rewind_map_record(m, &rec, &err), 0);
        }
    assert_int_equal(ss_rewind_map_finish(m, &err), 0);
    for (uint32_t r = 0; r < NREL; r++) {
        char path[64];
        snprintf(path, sizeof path, "base/5/%u", 30000 + r);
        uint32_t want[3] = { 80 + r % 3, 90 + r % 3, 100 + r % 3 };
        expect_blocks(m, path, want, 3);
    }
    expect_none(m, "base/5/35000");
    expect_stats(m, NREL, 3 * (uint64_t)NREL, 0, 0);
    ss_rewind_map_free(m);
}

/* ---- records that change relations without block references ---- */

static void test_smgr_create_truncate(void **state)
{
    (void)state;
    walgen g;
    wg_init(&g, 1, 3 * (ss_lsn)WG_SEG);
    uint8_t cr[16];
    wg_put32(cr, 1663); wg_put32(cr + 4, 5); wg_put32(cr + 8, 17000); wg_put32(cr + 12, 0);
    ss_lsn first = wg_record(&g, RM_SMGR, 0x10, NULL, 0, cr, sizeof cr);
    /* a later block reference to the created relation changes nothing */
    wg_block b[] = { { 0, 1663, 5, 17000, 4 }, { 0, 1663, 5, 17001, 6 } };
    wg_record(&g, RM_HEAP, 0x00, b, 2, NULL, 0);
    /* the VM fork of another relation created in a tablespace */
    wg_put32(cr, 16500); wg_put32(cr + 4, 5); wg_put32(cr + 8, 17005); wg_put32(cr + 12, 2);
    wg_record(&g, RM_SMGR, 0x10, NULL, 0, cr, sizeof cr);
    /* xl_smgr_truncate: blkno, relation, flags (SMGR_TRUNCATE_ALL) */
    uint8_t tr[20];
    wg_put32(tr, 12); wg_put32(tr + 4, 1663); wg_put32(tr + 8, 5); wg_put32(tr + 12, 17002);
    wg_put32(tr + 16, 7);
    wg_record(&g, RM_SMGR, 0x20 | SPECIAL, NULL, 0, tr, sizeof tr);
    ss_rewind_map *m = ss_rewind_map_new(131072);
    feed_all(&g, m, first);
    /* every fork and segment of 17000, 17002 and (in its tablespace) 17005 */
    expect_compared(m, "base/5/17000");
    expect_compared(m, "base/5/17000_fsm");
    expect_compared(m, "base/5/17000_vm");
    expect_compared(m, "base/5/17000.4");
    expect_compared(m, "base/5/17002");
    expect_compared(m, "base/5/17002_vm.1");
    expect_compared(m, TS "/5/17005");
    expect_compared(m, TS "/5/17005_fsm");
    /* nothing else: the same relfilenodes elsewhere, neighbours */
    static const uint32_t six[] = { 6 };
    expect_blocks(m, "base/5/17001", six, 1);
    expect_none(m, "base/5/17005");
    expect_none(m, "base/6/17000");
    expect_none(m, TS "/5/17000");
    expect_none(m, "base/5/12");           /* the truncate's block number is no relation */
    expect_stats(m, 2, 2, 3, 0);
    ss_rewind_map_free(m);

    /* too short to hold a relation: refused, naming the LSN and "Storage" */
    walgen h;
    wg_init(&h, 1, 3 * (ss_lsn)WG_SEG);
    ss_lsn s1 = wg_record(&h, RM_SMGR, 0x10, NULL, 0, cr, 8);
    ss_lsn s2 = wg_record(&h, RM_SMGR, 0x20 | SPECIAL, NULL, 0, tr, 12);
    expect_refused(&h, s1, "Storage", NULL);
    expect_refused(&h, s2, "Storage", NULL);
    wg_free(&h);
    wg_free(&g);
}

static void test_dbase_records(void **state)
{
    (void)state;
    walgen g;
    wg_init(&g, 1, 3 * (ss_lsn)WG_SEG);
    uint8_t d[16];
    /* CREATE DATABASE ... STRATEGY wal_log (15: XLOG_DBASE_CREATE_WAL_LOG) */
    wg_put32(d, 16600); wg_put32(d + 4, 1663);
    ss_lsn first = wg_record(&g, RM_DBASE, 0x10, NULL, 0, d, 8);
    /* file copy from template 1 (XLOG_DBASE_CREATE_FILE_COPY) */
    wg_put32(d, 16602); wg_put32(d + 4, 16500); wg_put32(d + 8, 1); wg_put32(d + 12, 1663);
    wg_record(&g, RM_DBASE, 0x00, NULL, 0, d, 16);
    /* DROP DATABASE: db, ntablespaces, tablespaces */
    wg_put32(d, 16601); wg_put32(d + 4, 2); wg_put32(d + 8, 1663); wg_put32(d + 12, 16500);
    wg_record(&g, RM_DBASE, 0x20, NULL, 0, d, 16);
    /* blocks of the new database and of its template */
    wg_block b[] = { { 0, 1663, 16600, 1259, 0 }, { 0, 1663, 1, 1259, 3 } };
    wg_record(&g, RM_HEAP, 0x00, b, 2, NULL, 0);
    ss_rewind_map *m = ss_rewind_map_new(131072);
    feed_all(&g, m, first);
    expect_compared(m, "base/16600/1259");
    expect_compared(m, "base/16600/16384_vm");
    expect_compared(m, "base/16602/1249");
    expect_compared(m, TS "/16602/1249");
    expect_compared(m, TS "/16601/20000.2");
    expect_compared(m, "base/16601/2619");
    /* the template and the other databases keep their block lists */
    static const uint32_t three[] = { 3 };
    expect_blocks(m, "base/1/1259", three, 1);
    expect_none(m, "base/5/1259");
    expect_none(m, "base/1663/1259");       /* the tablespace OID is no database */
    expect_none(m, "global/1262");
    expect_stats(m, 2, 2, 0, 3);
    ss_rewind_map_free(m);

    walgen h;
    wg_init(&h, 1, 3 * (ss_lsn)WG_SEG);
    ss_lsn s = wg_record(&h, RM_DBASE, 0x20, NULL, 0, d, 2);
    expect_refused(&h, s, "Database", NULL);
    wg_free(&h);
    wg_free(&g);
}

/* xl_xact_commit / abort: xact_time, [xinfo], [dbinfo], [subxacts],
 * [relfilenodes], [invalidations...]. */
static uint32_t xact_body(uint8_t *p, uint32_t xinfo, uint32_t nsub, const uint32_t *rels,
                          uint32_t nrels, uint32_t claimed_nrels)
{
    uint32_t o = 0;
    wg_put64(p, 0x0002A1B2C3D4E5F6ull);            /* xact_time */
    o += 8;
    if (xinfo) {
        wg_put32(p + o, xinfo);
        o += 4;
    }
    if (xinfo & 1) {                                /* dbinfo: db 5, tablespace 1663 */
        wg_put32(p + o, 5);
        wg_put32(p + o + 4, 1663);
        o += 8;
    }
    if (xinfo & 2) {                                /* subtransactions */
        wg_put32(p + o, nsub);
        o += 4;
        for (uint32_t i = 0; i < nsub; i++, o += 4)
            wg_put32(p + o, 18500 + i);             /* look like relfilenodes */
    }
    if (xinfo & 4) {                                /* dropped relations */
        wg_put32(p + o, claimed_nrels);
        o += 4;
        for (uint32_t i = 0; i < nrels * 3; i++, o += 4)
            wg_put32(p + o, rels[i]);
    }
    if (xinfo & 8) {                                /* invalidations (ignored) */
        wg_put32(p + o, 1);
        memset(p + o + 4, 0x5A, 16);
        o += 20;
    }
    return o;
}

static void test_xact_dropped_relations(void **state)
{
    (void)state;
    walgen g;
    wg_init(&g, 1, 3 * (ss_lsn)WG_SEG);
    uint8_t body[256];
    /* commit with everything: two relations dropped */
    uint32_t r1[] = { 1663, 5, 18000, 16500, 5, 18001 };
    ss_lsn first = wg_record(&g, RM_XACT, 0x00 | 0x80, NULL, 0, body,
                             xact_body(body, 1 | 2 | 4 | 8, 2, r1, 2, 2));
    /* abort without dbinfo or subtransactions */
    uint32_t r2[] = { 1663, 5, 18010 };
    wg_record(&g, RM_XACT, 0x20 | 0x80, NULL, 0, body, xact_body(body, 4, 0, r2, 1, 1));
    /* commit prepared, abort prepared */
    uint32_t r3[] = { 1663, 5, 18020 }, r4[] = { 1663, 6, 18030 };
    wg_record(&g, RM_XACT, 0x30 | 0x80, NULL, 0, body, xact_body(body, 1 | 4, 0, r3, 1, 1));
    wg_record(&g, RM_XACT, 0x40 | 0x80, NULL, 0, body, xact_body(body, 2 | 4, 3, r4, 1, 1));
    /* commits without dropped relations: plain, with xinfo, with subxacts */
    wg_record(&g, RM_XACT, 0x00, NULL, 0, body, 8);
    wg_record(&g, RM_XACT, 0x80, NULL, 0, body, xact_body(body, 1 | 8, 0, NULL, 0, 0));
    wg_record(&g, RM_XACT, 0x80, NULL, 0, body, xact_body(body, 2, 4, NULL, 0, 0));
    /* prepare, assignment and invalidations: no relation is dropped */
    memset(body, 0x11, 64);
    wg_record(&g, RM_XACT, 0x10, NULL, 0, body, 64);
    wg_record(&g, RM_XACT, 0x50, NULL, 0, body, 12);
    wg_record(&g, RM_XACT, 0x60, NULL, 0, body, 20);
    wg_block b[] = { { 0, 1663, 5, 18000, 1 }, { 0, 1663, 5, 18002, 2 } };
    wg_record(&g, RM_HEAP, 0x00, b, 2, NULL, 0);

    ss_rewind_map *m = ss_rewind_map_new(131072);
    feed_all(&g, m, first);
    expect_compared(m, "base/5/18000");
    expect_compared(m, "base/5/18000_fsm");
    expect_compared(m, TS "/5/18001");
    expect_compared(m, "base/5/18010");
    expect_compared(m, "base/5/18020.1");
    expect_compared(m, "base/6/18030");
    static const uint32_t two[] = { 2 };
    expect_blocks(m, "base/5/18002", two, 1);
    expect_none(m, "base/5/18001");            /* dropped in the tablespace only */
    expect_none(m, "base/5/18030");
    expect_none(m, "base/5/18500");            /* subtransaction ids */
    expect_none(m, "base/5/18501");
    expect_none(m, "base/5/1663");             /* dbinfo */
    expect_stats(m, 2, 2, 5, 0);
    ss_rewind_map_free(m);

    /* damaged: more dropped relations claimed than present, subxacts cut
     * short, xinfo missing */
    walgen h;
    wg_init(&h, 1, 3 * (ss_lsn)WG_SEG);
    ss_lsn s1 = wg_record(&h, RM_XACT, 0x80, NULL, 0, body, xact_body(body, 4, 0, r1, 1, 3));
    uint32_t n = xact_body(body, 2, 5, NULL, 0, 0);
    ss_lsn s2 = wg_record(&h, RM_XACT, 0x80, NULL, 0, body, n - 8);
    ss_lsn s3 = wg_record(&h, RM_XACT, 0x20 | 0x80, NULL, 0, body, 10);
    ss_lsn s4 = wg_record(&h, RM_XACT, 0x00, NULL, 0, body, 6);
    expect_refused(&h, s1, "Transaction", "dropped relations");
    expect_refused(&h, s2, "Transaction", "subtransactions");
    expect_refused(&h, s3, "Transaction", NULL);
    expect_refused(&h, s4, "Transaction", NULL);
    wg_free(&h);
    wg_free(&g);
}

/* ---- records the map cannot interpret ---- */

static void test_unknown_relation_changes(void **state)
{
    (void)state;
    walgen g;
    wg_init(&g, 1, 3 * (ss_lsn)WG_SEG);
    uint8_t d[32] = { 0 };
    wg_block b[] = { { 0, 1663, 5, 16384, 1 } };
    ss_lsn heap = wg_record(&g, RM_HEAP, 0x30 | SPECIAL, b, 1, d, 8);
    ss_lsn btree = wg_record(&g, RM_BTREE, 0x00 | SPECIAL, NULL, 0, d, 8);
    ss_lsn xlog = wg_record(&g, RM_XLOG, 0x20 | SPECIAL, NULL, 0, d, 8);
    /* the resource managers the map does read, with info values it does not
     * know, flagged as changing relations (pg_rewind refuses these too) */
    ss_lsn smgr = wg_record(&g, RM_SMGR, 0x30 | SPECIAL, NULL, 0, d, 16);
    ss_lsn xact = wg_record(&g, RM_XACT, 0x10 | SPECIAL, NULL, 0, d, 16);
    /* a custom resource manager (15+): whatever it does */
    ss_lsn custom = wg_record(&g, 130, 0x00, b, 1, d, 8);
    expect_refused(&g, heap, "Heap", "modifies a relation");
    expect_refused(&g, btree, "Btree", "modifies a relation");
    expect_refused(&g, xlog, "XLOG", "modifies a relation");
    expect_refused(&g, smgr, "Storage", NULL);
    expect_refused(&g, xact, "Transaction", NULL);
    expect_refused(&g, custom, "custom130", NULL);
    wg_free(&g);

    /* a fork number beyond init (the reader hands it through) */
    ss_wal_record rec;
    memset(&rec, 0, sizeof rec);
    rec.lsn = 0x7000048;
    rec.rmid = RM_HEAP2;
    rec.nblocks = 1;
    rec.blocks[0] = (ss_wal_block_ref){ .forknum = 4, .spcoid = 1663, .dboid = 5,
                                        .relnode = 16384, .blkno = 0 };
    ss_rewind_map *m = ss_rewind_map_new(131072);
    ss_err err = { 0 };
    assert_int_equal(ss_rewind_map_record(m, &rec, &err), -1);
    assert_non_null(strstr(err.msg, "0/07000048"));
    assert_non_null(strstr(err.msg, "Heap2"));
    ss_rewind_map_free(m);
}

/* Records that change nothing the map tracks pass without a trace. */
static void test_unrelated_records(void **state)
{
    (void)state;
    walgen g;
    wg_init(&g, 1, 3 * (ss_lsn)WG_SEG);
    uint8_t d[88] = { 0 };
    ss_lsn first = wg_checkpoint(&g, 0x10, 3 * (ss_lsn)WG_SEG, 1);
    wg_record(&g, RM_XLOG, 0x20 /* NOOP */, NULL, 0, NULL, 0);
    wg_record(&g, 3 /* CLOG */, 0x00, NULL, 0, d, 8);
    wg_record(&g, 8 /* Standby */, 0x10, NULL, 0, d, 24);
    wg_record(&g, 7 /* RelMap */, 0x00, NULL, 0, d, 40);
    wg_record(&g, 5 /* Tablespace */, 0x00, NULL, 0, d, 12);
    wg_record(&g, RM_HEAP, 0x00, NULL, 0, d, 4);
    ss_rewind_map *m = ss_rewind_map_new(131072);
    feed_all(&g, m, first);
    expect_none(m, "base/5/16384");
    expect_none(m, "global/1262");
    expect_stats(m, 0, 0, 0, 0);
    ss_rewind_map_free(m);
    wg_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_refs),
        cmocka_unit_test(test_unfinished_map),
        cmocka_unit_test(test_small_relseg),
        cmocka_unit_test(test_many_relations),
        cmocka_unit_test(test_smgr_create_truncate),
        cmocka_unit_test(test_dbase_records),
        cmocka_unit_test(test_xact_dropped_relations),
        cmocka_unit_test(test_unknown_relation_changes),
        cmocka_unit_test(test_unrelated_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
