/* walreader.c — reassemble WAL records from pages and hand them to the
 * decoder; tell the end of WAL from damage.
 *
 * Page loads and record assembly return 1 (done), 0 (end of WAL, reason in
 * r->end and a message in err) or -1 (error in err). */
#include "engine/pg/walreader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pg/walformat.h"
#include "engine/pg/walpage.h"

struct ss_wal_reader {
    ss_wal_reader_config cfg;
    ss_wal_tli_range *history;
    ss_wal_source src;

    ss_lsn next;              /* where the next record starts */
    ss_lsn expect_prev;       /* its xl_prev, or 0 when positioned by seek */

    uint8_t *page;            /* the page at page_lsn, header checked */
    ss_lsn page_lsn;
    int page_ok;
    ss_wal_page_header ph;

    uint8_t *rec;             /* record being assembled */
    size_t rec_cap;

    ss_wal_end end;
};

const char *ss_wal_end_name(ss_wal_end e)
{
    switch (e) {
    case SS_WAL_END_NONE: return "not at end";
    case SS_WAL_END_ZERO_RECORD: return "zero record length";
    case SS_WAL_END_UNWRITTEN_PAGE: return "page never written";
    case SS_WAL_END_RECYCLED_PAGE: return "page of a recycled segment";
    case SS_WAL_END_TORN_RECORD: return "last record torn";
    case SS_WAL_END_MISSING_SEGMENT: return "WAL segment missing";
    }
    return "?";
}

static int at_end(ss_wal_reader *r, ss_wal_end why, ss_err *err, ss_lsn lsn,
                  const char *detail)
{
    r->end = why;
    ss_seterr(err, SS_OK, 0, "end of WAL at " SS_LSN_FMT ": %s%s%s", SS_LSN_ARGS(lsn),
              ss_wal_end_name(why), detail ? ": " : "", detail ? detail : "");
    return 0;
}

static uint32_t tli_for(const ss_wal_reader *r, uint64_t segno)
{
    if (!r->cfg.nhistory)
        return r->cfg.tli;
    ss_lsn seg_end = (segno + 1) * r->cfg.seg_size;
    uint32_t tli = r->history[0].tli;
    for (size_t i = 0; i < r->cfg.nhistory; i++)
        if (r->history[i].begin < seg_end)
            tli = r->history[i].tli;
    return tli;
}

/* Load and check the page at page_lsn (a multiple of the page size). */
static int load_page(ss_wal_reader *r, ss_lsn page_lsn, ss_err *err)
{
    if (r->page_ok && r->page_lsn == page_lsn)
        return 1;
    r->page_ok = 0;
    uint32_t ps = r->cfg.page_size;
    uint64_t segno = page_lsn / r->cfg.seg_size, off = page_lsn % r->cfg.seg_size;
    uint32_t tli = tli_for(r, segno);
    char name[25];
    ss_wal_segment_name(name, tli, segno, r->cfg.seg_size);

    long n = r->src.read(r->src.ctx, tli, segno, off, r->page, ps, err);
    if (n < 0)
        return -1;
    if ((unsigned long)n < ps) {
        char d[96];
        snprintf(d, sizeof d, "segment %s %s", name,
                 n == 0 && off == 0 ? "not found" : "ends before this page");
        return at_end(r, SS_WAL_END_MISSING_SEGMENT, err, page_lsn, d);
    }
    if (ss_wal_page_header_is_zero(r->page))
        return at_end(r, SS_WAL_END_UNWRITTEN_PAGE, err, page_lsn, NULL);

    ss_wal_page_header *h = &r->ph;
    ss_wal_page_header_parse(r->page, h);
#define PAGEBAD(...) ss_seterr(err, SS_ECLUSTER, 0, "WAL segment %s offset %llu (" SS_LSN_FMT "): " __VA_ARGS__)
#define PAGEARGS name, (unsigned long long)off, SS_LSN_ARGS(page_lsn)
    if (!r->cfg.pg_major) {
        r->cfg.pg_major = ss_wal_magic_version(h->magic);
        if (!r->cfg.pg_major)
            return PAGEBAD("unknown page magic 0x%04X", PAGEARGS, h->magic);
    } else if (h->magic != ss_wal_version_magic(r->cfg.pg_major)) {
        return PAGEBAD("page magic 0x%04X, expected 0x%04X (PostgreSQL %d)", PAGEARGS,
                       h->magic, ss_wal_version_magic(r->cfg.pg_major), r->cfg.pg_major);
    }
    if (h->info & ~SS_XLP_ALL_FLAGS)
        return PAGEBAD("invalid page info bits 0x%04X", PAGEARGS, h->info);
    if (off == 0 && !h->is_long)
        return PAGEBAD("first page of a segment without a long header", PAGEARGS);
    /* A recycled segment keeps its old pages until they are overwritten:
     * an older address is where the WAL written so far ends. */
    if (h->pageaddr < page_lsn) {
        char d[64];
        snprintf(d, sizeof d, "page says " SS_LSN_FMT, SS_LSN_ARGS(h->pageaddr));
        return at_end(r, SS_WAL_END_RECYCLED_PAGE, err, page_lsn, d);
    }
    if (h->pageaddr != page_lsn)
        return PAGEBAD("unexpected page address " SS_LSN_FMT, PAGEARGS, SS_LSN_ARGS(h->pageaddr));
    if (h->is_long) {
        if (h->seg_size != r->cfg.seg_size || h->page_size != ps)
            return PAGEBAD("segment size %u and page size %u, expected %u and %u", PAGEARGS,
                           h->seg_size, h->page_size, r->cfg.seg_size, ps);
        if (!r->cfg.sysid)
            r->cfg.sysid = h->sysid;
        else if (h->sysid != r->cfg.sysid)
            return PAGEBAD("system identifier %llu, expected %llu", PAGEARGS,
                           (unsigned long long)h->sysid, (unsigned long long)r->cfg.sysid);
    }
    if ((h->info & SS_XLP_FIRST_IS_CONTRECORD) && h->rem_len == 0)
        return PAGEBAD("continuation flag with zero remaining length", PAGEARGS);
#undef PAGEBAD
#undef PAGEARGS
    r->page_lsn = page_lsn;
    r->page_ok = 1;
    return 1;
}

static int rec_reserve(ss_wal_reader *r, size_t need, ss_err *err)
{
    if (need <= r->rec_cap)
        return 0;
    size_t cap = r->rec_cap ? r->rec_cap : 8192;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(r->rec, cap);
    if (!p)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "WAL record buffer of %zu bytes", cap);
    r->rec = p;
    r->rec_cap = cap;
    return 0;
}

/* A continuation page was not there: the record was torn at the end. */
static int torn(ss_wal_reader *r, ss_lsn lsn, ss_err *err)
{
    /* Keep the page's reason, shortened so the whole line fits. */
    char d[sizeof err->msg];
    snprintf(d, sizeof d, "record at " SS_LSN_FMT " continues where %.900s", SS_LSN_ARGS(lsn),
             err ? err->msg : "WAL ends");
    return at_end(r, SS_WAL_END_TORN_RECORD, err, lsn, d);
}

/* Assemble the record starting at lsn into r->rec; *lenp its length,
 * *endp the (unaligned) position after its last byte. */
static int assemble(ss_wal_reader *r, ss_lsn *lsnp, uint32_t *lenp, ss_lsn *endp,
                    ss_err *err)
{
    uint32_t ps = r->cfg.page_size;
    ss_lsn lsn = *lsnp;
restart:;
    ss_lsn page = lsn - lsn % ps;
    int rc = load_page(r, page, err);
    if (rc <= 0)
        return rc;
    if (lsn == page) {
        if (r->ph.info & SS_XLP_FIRST_IS_CONTRECORD)
            return ss_seterr(err, SS_ECLUSTER, 0,
                             "WAL record requested at " SS_LSN_FMT
                             ", but the page starts with the rest of an earlier record",
                             SS_LSN_ARGS(lsn));
        lsn += r->ph.size;
    } else if (lsn % ps < r->ph.size || lsn % 8) {
        return ss_seterr(err, SS_ECLUSTER, 0, "invalid WAL record position " SS_LSN_FMT,
                         SS_LSN_ARGS(lsn));
    }
    *lsnp = lsn;

    /* Records are 8-aligned and page headers 8 long, so the length word is
     * always on the first page. */
    const uint8_t *p = r->page + lsn % ps;
    uint32_t avail = ps - (uint32_t)(lsn % ps);
    uint32_t tot = ss_rd32(p);
    if (tot == 0)
        return at_end(r, SS_WAL_END_ZERO_RECORD, err, lsn, NULL);
    if (tot < SS_XLR_HEADER_SIZE || tot > SS_XLR_MAX_TOTAL_LEN)
        return ss_seterr(err, SS_ECLUSTER, 0, "WAL record at " SS_LSN_FMT ": invalid length %u",
                         SS_LSN_ARGS(lsn), tot);

    uint32_t got = avail < tot ? avail : tot;
    if (rec_reserve(r, got, err) < 0)
        return -1;
    memcpy(r->rec, p, got);
    int header_checked = 0;
    if (got >= SS_XLR_HEADER_SIZE) {
        if (ss_wal_check_header(r->rec, r->cfg.pg_major, lsn, r->expect_prev, err) < 0)
            return -1;
        header_checked = 1;
    }
    ss_lsn pos = lsn + got;

    while (got < tot) {
        /* pos is at a page boundary here. */
        rc = load_page(r, pos, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return torn(r, lsn, err);
        if (r->ph.info & SS_XLP_FIRST_IS_OVERWRITE_CONTRECORD) {
            /* The rest of this record was lost and a new timeline's WAL
             * starts here instead: forget the partial record. */
            lsn = pos;
            goto restart;
        }
        if (!(r->ph.info & SS_XLP_FIRST_IS_CONTRECORD))
            return ss_seterr(err, SS_ECLUSTER, 0,
                             "WAL record at " SS_LSN_FMT ": page " SS_LSN_FMT
                             " lacks the continuation flag", SS_LSN_ARGS(lsn), SS_LSN_ARGS(pos));
        if (r->ph.rem_len != tot - got)
            return ss_seterr(err, SS_ECLUSTER, 0,
                             "WAL record at " SS_LSN_FMT ": page " SS_LSN_FMT
                             " continues %u bytes, expected %u", SS_LSN_ARGS(lsn),
                             SS_LSN_ARGS(pos), r->ph.rem_len, tot - got);
        uint32_t room = ps - r->ph.size;
        uint32_t take = tot - got < room ? tot - got : room;
        if (rec_reserve(r, (size_t)got + take, err) < 0)
            return -1;
        memcpy(r->rec + got, r->page + r->ph.size, take);
        got += take;
        pos += r->ph.size + take;
        if (!header_checked && got >= SS_XLR_HEADER_SIZE) {
            if (ss_wal_check_header(r->rec, r->cfg.pg_major, lsn, r->expect_prev, err) < 0)
                return -1;
            header_checked = 1;
        }
    }
    *lenp = tot;
    *endp = pos;
    return 1;
}

int ss_wal_read_next(ss_wal_reader *r, ss_wal_record *rec, ss_err *err)
{
    r->end = SS_WAL_END_NONE;
    ss_lsn lsn = r->next, end = 0;
    uint32_t len = 0;
    int rc = assemble(r, &lsn, &len, &end, err);
    if (rc <= 0)
        return rc;
    uint32_t bs = r->cfg.block_size ? r->cfg.block_size : r->cfg.page_size;
    if (ss_wal_decode(r->rec, len, r->cfg.pg_major, bs, lsn, rec, err) < 0)
        return -1;
    end = ss_maxalign(end);
    if (rec->rmid == SS_RM_XLOG_ID && (rec->info & SS_XLR_RMGR_INFO_MASK) == SS_XLOG_SWITCH) {
        /* The rest of the segment is padding. */
        uint64_t s = r->cfg.seg_size;
        end = (end + s - 1) / s * s;
    }
    rec->end_lsn = end;
    r->next = end;
    r->expect_prev = lsn;
    return 1;
}

void ss_wal_seek(ss_wal_reader *r, ss_lsn lsn)
{
    r->next = lsn;
    r->expect_prev = 0;
    r->end = SS_WAL_END_NONE;
    /* Read pages afresh: the WAL's last page may have grown since. */
    r->page_ok = 0;
}

int ss_wal_read_at(ss_wal_reader *r, ss_lsn lsn, ss_wal_record *rec, ss_err *err)
{
    ss_wal_seek(r, lsn);
    int rc = ss_wal_read_next(r, rec, err);
    if (rc == 0) {
        if (err)
            err->kind = SS_ECLUSTER;
        return -1;
    }
    if (rc > 0 && rec->lsn != lsn)
        return ss_seterr(err, SS_ECLUSTER, 0, "no WAL record starts at " SS_LSN_FMT,
                         SS_LSN_ARGS(lsn));
    return rc;
}

int ss_wal_find_first(ss_wal_reader *r, ss_lsn lsn, ss_lsn *found, ss_err *err)
{
    uint32_t ps = r->cfg.page_size;
    ss_lsn pos = lsn;
    r->end = SS_WAL_END_NONE;
    /* Skip the tail of a record continued from earlier pages: the first
     * record boundary this page (or a later one) knows of. */
    for (;;) {
        ss_lsn page = pos - pos % ps;
        int rc = load_page(r, page, err);
        if (rc <= 0)
            return rc;
        if (r->ph.info & SS_XLP_FIRST_IS_CONTRECORD) {
            if (ss_maxalign(r->ph.rem_len) >= ps - r->ph.size) {
                pos = page + ps;
                continue;
            }
            pos = page + r->ph.size + ss_maxalign(r->ph.rem_len);
        } else {
            pos = page + r->ph.size;
        }
        break;
    }
    ss_wal_seek(r, pos);
    ss_wal_record rec;
    for (;;) {
        int rc = ss_wal_read_next(r, &rec, err);
        if (rc <= 0)
            return rc;
        if (rec.lsn >= lsn) {
            r->next = rec.lsn;
            r->expect_prev = rec.prev;
            *found = rec.lsn;
            return 1;
        }
    }
}

int ss_wal_reader_open(const ss_wal_reader_config *cfg, ss_wal_source src,
                       ss_wal_reader **out, ss_err *err)
{
    *out = NULL;
    if (!ss_wal_sizes_valid(cfg->seg_size, cfg->page_size) || cfg->seg_size % cfg->page_size) {
        src.close(src.ctx);
        return ss_seterr(err, SS_EUSAGE, 0, "invalid WAL segment size %u or page size %u",
                         cfg->seg_size, cfg->page_size);
    }
    if (cfg->pg_major && !ss_wal_version_magic(cfg->pg_major)) {
        src.close(src.ctx);
        return ss_seterr(err, SS_EUSAGE, 0, "unsupported PostgreSQL version %d for WAL",
                         cfg->pg_major);
    }
    if (cfg->block_size && (cfg->block_size < 1024 || cfg->block_size > 32768)) {
        src.close(src.ctx);
        return ss_seterr(err, SS_EUSAGE, 0, "invalid block size %u", cfg->block_size);
    }
    ss_wal_reader *r = calloc(1, sizeof *r);
    if (r) {
        r->page = malloc(cfg->page_size);
        if (cfg->nhistory)
            r->history = malloc(cfg->nhistory * sizeof cfg->history[0]);
    }
    if (!r || !r->page || (cfg->nhistory && !r->history)) {
        if (r) {
            free(r->page);
            free(r->history);
        }
        free(r);
        src.close(src.ctx);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "WAL reader");
    }
    r->cfg = *cfg;
    if (cfg->nhistory)
        memcpy(r->history, cfg->history, cfg->nhistory * sizeof cfg->history[0]);
    r->cfg.history = r->history;
    r->src = src;
    *out = r;
    return 0;
}

void ss_wal_reader_free(ss_wal_reader *r)
{
    if (!r)
        return;
    if (r->src.close)
        r->src.close(r->src.ctx);
    free(r->page);
    free(r->rec);
    free(r->history);
    free(r);
}

ss_wal_end ss_wal_end_reason(const ss_wal_reader *r) { return r->end; }
int ss_wal_reader_version(const ss_wal_reader *r) { return r->cfg.pg_major; }
uint64_t ss_wal_reader_sysid(const ss_wal_reader *r) { return r->cfg.sysid; }
