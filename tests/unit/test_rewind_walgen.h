/* test_rewind_walgen.h — a tiny writer of synthetic PostgreSQL 15 WAL in
 * memory for the rewind unit tests (the approach of test_walreader.c):
 * 1 MiB segments of 1 KiB pages, short and long page headers, records
 * continued across pages, CRC-32C, block references (data only, the
 * same-relation shortcut when a block has the previous block's relation),
 * main data. Static inline functions only (each test uses some). */
#ifndef SEGSYNC_TEST_REWIND_WALGEN_H
#define SEGSYNC_TEST_REWIND_WALGEN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pg/crc32c.h"
#include "engine/pg/walreader.h"

#define WG_SEG (1u << 20)
#define WG_PAGE 1024u
#define WG_NSEG 3
#define WG_SYSID 7000000000000000042ull

typedef struct {
    uint32_t tli;
    uint64_t first_segno;
    uint8_t *seg[WG_NSEG];
    ss_lsn pos, prev;
} walgen;

/* One block reference to encode. */
typedef struct {
    uint8_t fork;
    uint32_t spc, db, rel, blkno;
} wg_block;

static inline void wg_put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void wg_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void wg_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static inline uint8_t *wg_at(walgen *g, ss_lsn lsn)
{
    uint64_t s = lsn / WG_SEG - g->first_segno;
    if (s >= WG_NSEG)
        abort();
    return g->seg[s] + lsn % WG_SEG;
}

/* A writer whose first record goes at `start`, a page start (segments
 * from start's on). */
static inline void wg_init(walgen *g, uint32_t tli, ss_lsn start)
{
    memset(g, 0, sizeof *g);
    g->tli = tli;
    g->first_segno = start / WG_SEG;
    for (int i = 0; i < WG_NSEG; i++) {
        g->seg[i] = calloc(1, WG_SEG);
        if (!g->seg[i])
            abort();
    }
    g->pos = start;
}

static inline void wg_free(walgen *g)
{
    for (int i = 0; i < WG_NSEG; i++)
        free(g->seg[i]);
}

static inline uint32_t wg_hdr_size(ss_lsn page) { return page % WG_SEG == 0 ? 40 : 24; }

static inline void wg_page_header(walgen *g, ss_lsn page, uint16_t info, uint32_t rem)
{
    uint8_t *p = wg_at(g, page);
    int is_long = page % WG_SEG == 0;
    wg_put16(p, 0xD110);                  /* PostgreSQL 15 */
    wg_put16(p + 2, (uint16_t)(info | (is_long ? 0x0002 : 0)));
    wg_put32(p + 4, g->tli);
    wg_put64(p + 8, page);
    wg_put32(p + 16, rem);
    if (is_long) {
        wg_put64(p + 24, WG_SYSID);
        wg_put32(p + 32, WG_SEG);
        wg_put32(p + 36, WG_PAGE);
    }
}

/* Write a whole record (len bytes, header included) at g->pos. */
static inline ss_lsn wg_raw(walgen *g, const uint8_t *rec, uint32_t len)
{
    if (g->pos % WG_PAGE == 0) {
        wg_page_header(g, g->pos, 0, 0);
        g->pos += wg_hdr_size(g->pos);
    }
    ss_lsn lsn = g->pos;
    uint32_t done = 0;
    while (done < len) {
        if (g->pos % WG_PAGE == 0) {
            wg_page_header(g, g->pos, 0x0001, len - done);
            g->pos += wg_hdr_size(g->pos);
        }
        uint32_t room = WG_PAGE - (uint32_t)(g->pos % WG_PAGE);
        uint32_t n = len - done < room ? len - done : room;
        memcpy(wg_at(g, g->pos), rec + done, n);
        done += n;
        g->pos += n;
    }
    g->pos = (g->pos + 7) & ~(ss_lsn)7;
    g->prev = lsn;
    return lsn;
}

/* A record of resource manager rmid with xl_info `info`, the given block
 * references (data only: 2 bytes each) and main data; `pad` extra bytes of
 * main data are appended (for sizing records exactly). */
static inline ss_lsn wg_record_pad(walgen *g, uint8_t rmid, uint8_t info, const wg_block *blocks,
                            int nblocks, const void *main, uint32_t main_len, uint32_t pad)
{
    uint32_t mlen = main_len + pad;
    uint32_t cap = 24 + (uint32_t)nblocks * 26 + 6 + mlen;
    uint8_t *rec = calloc(1, cap);
    if (!rec)
        abort();
    uint32_t o = 24;
    for (int i = 0; i < nblocks; i++) {
        const wg_block *b = &blocks[i];
        int same = i > 0 && b->spc == blocks[i - 1].spc && b->db == blocks[i - 1].db &&
                   b->rel == blocks[i - 1].rel;
        rec[o++] = (uint8_t)i;
        rec[o++] = (uint8_t)(b->fork | 0x20 /* HAS_DATA */ | (same ? 0x80 : 0));
        wg_put16(rec + o, 2);
        o += 2;
        if (!same) {
            wg_put32(rec + o, b->spc);
            wg_put32(rec + o + 4, b->db);
            wg_put32(rec + o + 8, b->rel);
            o += 12;
        }
        wg_put32(rec + o, b->blkno);
        o += 4;
    }
    if (mlen) {
        if (mlen < 256) {
            rec[o++] = 255;
            rec[o++] = (uint8_t)mlen;
        } else {
            rec[o++] = 254;
            wg_put32(rec + o, mlen);
            o += 4;
        }
    }
    for (int i = 0; i < nblocks; i++) {
        rec[o++] = 0xAB;
        rec[o++] = (uint8_t)i;
    }
    if (main_len)
        memcpy(rec + o, main, main_len);
    o += mlen;          /* the padding stays zero */
    wg_put32(rec, o);
    wg_put32(rec + 4, 1000);
    wg_put64(rec + 8, g->prev);
    rec[16] = info;
    rec[17] = rmid;
    uint32_t crc = ss_crc32c_update(SS_CRC32C_INIT, rec + 24, o - 24);
    crc = ss_crc32c_final(ss_crc32c_update(crc, rec, 20));
    wg_put32(rec + 20, crc);
    ss_lsn lsn = wg_raw(g, rec, o);
    free(rec);
    return lsn;
}

static inline ss_lsn wg_record(walgen *g, uint8_t rmid, uint8_t info, const wg_block *blocks,
                        int nblocks, const void *main, uint32_t main_len)
{
    return wg_record_pad(g, rmid, info, blocks, nblocks, main, main_len, 0);
}

/* A checkpoint record (XLOG, info 0x00 shutdown / 0x10 online, maybe with
 * low info bits) whose CheckPoint says redo and tli (88 bytes of main data,
 * like PostgreSQL 15's struct; only the first 12 matter here). */
static inline ss_lsn wg_checkpoint(walgen *g, uint8_t info, ss_lsn redo, uint32_t tli)
{
    uint8_t cp[88] = { 0 };
    wg_put64(cp, redo);
    wg_put32(cp + 8, tli);
    wg_put32(cp + 12, tli);      /* PrevTimeLineID */
    cp[16] = 1;                  /* fullPageWrites */
    return wg_record(g, 0, info, NULL, 0, cp, sizeof cp);
}

/* A record (rmid 10, main data only) that ends exactly at `boundary` (a
 * page or segment start after g->pos, at least ~40 bytes away). */
static inline ss_lsn wg_fill_to(walgen *g, ss_lsn boundary)
{
    ss_lsn pos = g->pos;
    if (pos % WG_PAGE == 0)
        pos += wg_hdr_size(pos);
    uint64_t len = boundary - pos;
    for (ss_lsn p = (pos / WG_PAGE + 1) * WG_PAGE; p < boundary; p += WG_PAGE)
        len -= wg_hdr_size(p);
    /* header 24 + main data header (2 or 5) + main data */
    uint32_t hdr = len - 24 - 2 < 256 ? 26 : 29;
    if (len < 26 + 8)
        abort();
    ss_lsn l = wg_record_pad(g, 10, 0x00, NULL, 0, NULL, 0, (uint32_t)len - hdr);
    if (g->pos != boundary)
        abort();
    return l;
}

/* A reader over the generator's segments (timeline g->tli, PostgreSQL 15). */
static inline ss_wal_reader *wg_reader(walgen *g)
{
    ss_wal_memseg segs[WG_NSEG];
    for (int i = 0; i < WG_NSEG; i++)
        segs[i] = (ss_wal_memseg){ g->tli, g->first_segno + (uint64_t)i, 0, g->seg[i], WG_SEG };
    ss_wal_source src;
    ss_err err = { 0 };
    if (ss_wal_source_mem(segs, WG_NSEG, WG_SEG, &src, &err) < 0)
        return NULL;
    ss_wal_reader_config cfg = { .seg_size = WG_SEG, .page_size = WG_PAGE, .block_size = 8192,
                                 .pg_major = 15, .tli = g->tli };
    ss_wal_reader *r = NULL;
    if (ss_wal_reader_open(&cfg, src, &r, &err) < 0)
        return NULL;
    return r;
}

#endif
