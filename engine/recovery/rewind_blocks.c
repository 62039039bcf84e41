/* rewind_blocks.c — the block map of incremental recovery (see rewind.h). */
#include "engine/recovery/rewind.h"
#include "engine/pg/relpath.h"
#include "engine/pg/rmgrnames.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Resource managers and info bits this file reads (same in 12-17). */
#define RM_XACT_ID 1
#define RM_SMGR_ID 2
#define RM_DBASE_ID 4
#define RM_MAX_BUILTIN 21
#define XLR_SPECIAL_REL_UPDATE 0x01
#define XLOG_SMGR_CREATE 0x10
#define XLOG_SMGR_TRUNCATE 0x20
#define XLOG_XACT_OPMASK 0x70
#define XLOG_XACT_COMMIT 0x00
#define XLOG_XACT_ABORT 0x20
#define XLOG_XACT_COMMIT_PREPARED 0x30
#define XLOG_XACT_ABORT_PREPARED 0x40
#define XLOG_XACT_HAS_INFO 0x80
#define XACT_XINFO_HAS_DBINFO (1u << 0)
#define XACT_XINFO_HAS_SUBXACTS (1u << 1)
#define XACT_XINFO_HAS_RELFILENODES (1u << 2)

#define FORK_WHOLE_REL 255     /* key of a "compare every file of it" mark */

typedef struct {
    uint32_t spc, db, rel, segno;
    uint8_t fork;
} relseg_key;

typedef struct {
    relseg_key k;
    uint32_t *blocks;
    size_t n, cap;
} relseg;

struct ss_rewind_map {
    uint32_t relseg_size;
    relseg *v;                  /* entries */
    size_t n, cap;
    size_t *slots;              /* open addressing: index + 1, 0 = empty */
    size_t nslots;              /* power of two */
    uint32_t *dbs;              /* databases compared whole */
    size_t ndbs, capdbs;
    size_t nrels_marked;
    int finished;
};

static uint64_t key_hash(const relseg_key *k)
{
    uint64_t h = 0x9E3779B97F4A7C15ull;
    uint32_t f[5] = { k->spc, k->db, k->rel, k->segno, k->fork };
    for (int i = 0; i < 5; i++) {
        h ^= f[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 33;
    }
    return h;
}

static int key_eq(const relseg_key *a, const relseg_key *b)
{
    return a->spc == b->spc && a->db == b->db && a->rel == b->rel && a->segno == b->segno &&
           a->fork == b->fork;
}

ss_rewind_map *ss_rewind_map_new(uint32_t relseg_size)
{
    ss_rewind_map *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->relseg_size = relseg_size ? relseg_size : 131072;
    m->nslots = 1024;
    m->slots = calloc(m->nslots, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void ss_rewind_map_free(ss_rewind_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].blocks);
    free(m->v);
    free(m->slots);
    free(m->dbs);
    free(m);
}

static relseg *lookup(const ss_rewind_map *m, const relseg_key *k)
{
    size_t mask = m->nslots - 1;
    for (size_t i = key_hash(k) & mask;; i = (i + 1) & mask) {
        size_t s = m->slots[i];
        if (!s)
            return NULL;
        if (key_eq(&m->v[s - 1].k, k))
            return &m->v[s - 1];
    }
}

static int grow_slots(ss_rewind_map *m)
{
    size_t nn = m->nslots * 2;
    size_t *ns = calloc(nn, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t e = 0; e < m->n; e++) {
        size_t i = key_hash(&m->v[e].k) & (nn - 1);
        while (ns[i])
            i = (i + 1) & (nn - 1);
        ns[i] = e + 1;
    }
    free(m->slots);
    m->slots = ns;
    m->nslots = nn;
    return 0;
}

static relseg *get(ss_rewind_map *m, const relseg_key *k, int *created)
{
    relseg *r = lookup(m, k);
    *created = 0;
    if (r)
        return r;
    if ((m->n + 1) * 2 > m->nslots && grow_slots(m) < 0)
        return NULL;
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 256;
        relseg *nv = realloc(m->v, nc * sizeof *nv);
        if (!nv)
            return NULL;
        m->v = nv;
        m->cap = nc;
    }
    relseg *e = &m->v[m->n];
    memset(e, 0, sizeof *e);
    e->k = *k;
    size_t mask = m->nslots - 1, i = key_hash(k) & mask;
    while (m->slots[i])
        i = (i + 1) & mask;
    m->slots[i] = ++m->n;
    *created = 1;
    return e;
}

static int add_block(ss_rewind_map *m, uint32_t spc, uint32_t db, uint32_t rel, uint8_t fork,
                     uint32_t blkno, ss_err *err)
{
    relseg_key k = { spc, db, rel, blkno / m->relseg_size, fork };
    int created;
    relseg *r = get(m, &k, &created);
    if (!r)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "block map");
    uint32_t b = blkno % m->relseg_size;
    if (r->n && r->blocks[r->n - 1] == b)
        return 0;       /* the same page again: common, cheap to skip */
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 8;
        uint32_t *nb = realloc(r->blocks, nc * sizeof *nb);
        if (!nb)
            return ss_seterr(err, SS_EINTERNAL, ENOMEM, "block map");
        r->blocks = nb;
        r->cap = nc;
    }
    r->blocks[r->n++] = b;
    m->finished = 0;
    return 0;
}

static int mark_rel(ss_rewind_map *m, uint32_t spc, uint32_t db, uint32_t rel, ss_err *err)
{
    relseg_key k = { spc, db, rel, 0, FORK_WHOLE_REL };
    int created;
    if (!get(m, &k, &created))
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "block map");
    m->nrels_marked += created;
    return 0;
}

static int mark_db(ss_rewind_map *m, uint32_t db, ss_err *err)
{
    for (size_t i = 0; i < m->ndbs; i++)
        if (m->dbs[i] == db)
            return 0;
    if (m->ndbs == m->capdbs) {
        size_t nc = m->capdbs ? m->capdbs * 2 : 8;
        uint32_t *nd = realloc(m->dbs, nc * sizeof *nd);
        if (!nd)
            return ss_seterr(err, SS_EINTERNAL, ENOMEM, "block map");
        m->dbs = nd;
        m->capdbs = nc;
    }
    m->dbs[m->ndbs++] = db;
    return 0;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static int not_understood(const ss_wal_record *rec, const char *what, ss_err *err)
{
    const char *name = ss_wal_rmgr_name(rec->rmid);
    return ss_seterr(err, SS_ECLUSTER, 0,
                     "WAL record at " SS_LSN_FMT " (resource manager %s, info 0x%02X) %s",
                     SS_LSN_ARGS(rec->lsn), name ? name : "?", rec->info, what);
}

/* Relations a commit or abort record drops (the layout of xl_xact_commit /
 * xl_xact_abort and their optional parts, 12-17). */
static int xact_dropped(ss_rewind_map *m, const ss_wal_record *rec, ss_err *err)
{
    const uint8_t *p = rec->main_data, *end = p + rec->main_data_len;
    if (end - p < 8)
        return not_understood(rec, "is too short for a transaction record", err);
    p += 8;     /* xact_time */
    uint32_t xinfo = 0;
    if (rec->info & XLOG_XACT_HAS_INFO) {
        if (end - p < 4)
            return not_understood(rec, "is too short for its xinfo", err);
        xinfo = rd32(p);
        p += 4;
    }
    if (xinfo & XACT_XINFO_HAS_DBINFO) {
        if (end - p < 8)
            return not_understood(rec, "is too short for its database info", err);
        p += 8;
    }
    if (xinfo & XACT_XINFO_HAS_SUBXACTS) {
        if (end - p < 4)
            return not_understood(rec, "is too short for its subtransactions", err);
        uint32_t nsub = rd32(p);
        p += 4;
        if ((uint64_t)(end - p) < (uint64_t)nsub * 4)
            return not_understood(rec, "is too short for its subtransactions", err);
        p += (size_t)nsub * 4;
    }
    if (xinfo & XACT_XINFO_HAS_RELFILENODES) {
        if (end - p < 4)
            return not_understood(rec, "is too short for its dropped relations", err);
        uint32_t nrels = rd32(p);
        p += 4;
        if ((uint64_t)(end - p) < (uint64_t)nrels * 12)
            return not_understood(rec, "is too short for its dropped relations", err);
        for (uint32_t i = 0; i < nrels; i++, p += 12)
            if (mark_rel(m, rd32(p), rd32(p + 4), rd32(p + 8), err) < 0)
                return -1;
    }
    return 0;
}

int ss_rewind_map_record(ss_rewind_map *m, const ss_wal_record *rec, ss_err *err)
{
    for (int i = 0; i < rec->nblocks; i++) {
        const ss_wal_block_ref *b = &rec->blocks[i];
        if (b->forknum > 3)
            return not_understood(rec, "references an unknown fork", err);
        if (b->forknum == SS_PG_FORK_FSM || b->forknum == SS_PG_FORK_VM)
            continue;   /* compared whole anyway (ss_rewind_map_known) */
        if (add_block(m, b->spcoid, b->dboid, b->relnode, b->forknum, b->blkno, err) < 0)
            return -1;
    }
    uint8_t info = rec->info & 0xF0;
    switch (rec->rmid) {
    case RM_SMGR_ID:
        /* xl_smgr_create: RelFileNode, fork; xl_smgr_truncate: blkno,
         * RelFileNode, flags. The files are compared whole. */
        if (info == XLOG_SMGR_CREATE || info == XLOG_SMGR_TRUNCATE) {
            size_t off = info == XLOG_SMGR_CREATE ? 0 : 4;
            if (rec->main_data_len < off + 12)
                return not_understood(rec, "is too short for a relation create/truncate", err);
            const uint8_t *p = rec->main_data + off;
            return mark_rel(m, rd32(p), rd32(p + 4), rd32(p + 8), err);
        }
        break;
    case RM_DBASE_ID:
        /* Every database record (create by copy or by WAL, drop) starts
         * with the database's OID: compare all of its files. */
        if (rec->main_data_len < 4)
            return not_understood(rec, "is too short for a database record", err);
        return mark_db(m, rd32(rec->main_data), err);
    case RM_XACT_ID:
        switch (rec->info & XLOG_XACT_OPMASK) {
        case XLOG_XACT_COMMIT:
        case XLOG_XACT_ABORT:
        case XLOG_XACT_COMMIT_PREPARED:
        case XLOG_XACT_ABORT_PREPARED:
            return xact_dropped(m, rec, err);
        default:
            break;
        }
        break;
    default:
        if (rec->rmid > RM_MAX_BUILTIN)
            return not_understood(rec, "belongs to a custom resource manager segsync cannot interpret", err);
        break;
    }
    /* Every other record flagged as changing relations, including SMGR and
     * XACT records of kinds not handled above (as pg_rewind refuses them). */
    if (rec->info & XLR_SPECIAL_REL_UPDATE)
        return not_understood(rec, "modifies a relation, but its type is not recognized", err);
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int ss_rewind_map_finish(ss_rewind_map *m, ss_err *err)
{
    (void)err;
    for (size_t i = 0; i < m->n; i++) {
        relseg *r = &m->v[i];
        if (r->n < 2)
            continue;
        qsort(r->blocks, r->n, sizeof *r->blocks, cmp_u32);
        size_t w = 1;
        for (size_t j = 1; j < r->n; j++)
            if (r->blocks[j] != r->blocks[w - 1])
                r->blocks[w++] = r->blocks[j];
        r->n = w;
    }
    m->finished = 1;
    return 0;
}

int ss_rewind_map_known(void *ctx, const char *path, const uint32_t **blocks, size_t *n)
{
    const ss_rewind_map *m = ctx;
    ss_pg_relfile rf;
    if (!m->finished || !ss_pg_relpath_parse(path, &rf, NULL, 0) || rf.is_temp)
        return 0;
    /* The free space map and the visibility map change without block
     * references: FSM updates are not WAL-logged at all, and heap redo
     * clears visibility map bits without registering the VM page. The
     * target's copy of a page can then differ from the source's although
     * no record names it, so these forks are compared block by block (they
     * are small; pg_rewind copies them whole). */
    if (rf.fork == SS_PG_FORK_FSM || rf.fork == SS_PG_FORK_VM)
        return 0;
    for (size_t i = 0; i < m->ndbs; i++)
        if (m->dbs[i] == rf.dboid)
            return 0;
    relseg_key whole = { rf.spcoid, rf.dboid, rf.relfilenode, 0, FORK_WHOLE_REL };
    if (lookup(m, &whole))
        return 0;
    relseg_key k = { rf.spcoid, rf.dboid, rf.relfilenode, rf.segno, (uint8_t)rf.fork };
    const relseg *r = lookup(m, &k);
    *blocks = r && r->n ? r->blocks : NULL;
    *n = r ? r->n : 0;
    return 1;
}

void ss_rewind_map_stats(const ss_rewind_map *m, size_t *files, uint64_t *blocks,
                         size_t *rels_compared, size_t *dbs_compared)
{
    size_t f = 0;
    uint64_t b = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].k.fork != FORK_WHOLE_REL) {
            f++;
            b += m->v[i].n;
        }
    *files = f;
    *blocks = b;
    *rels_compared = m->nrels_marked;
    *dbs_compared = m->ndbs;
}
