/* source_libpq.c — see source_libpq.h: a running server's data directory
 * read through libpq (pg_ls_dir, pg_stat_file, pg_read_binary_file). */
#include "engine/source_libpq.h"
#include "engine/pathsafe.h"
#include "engine/pg/pqpool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* pg_read_binary_file refuses more than MaxAllocSize - 1 bytes at once. */
#define PQ_READ_MAX ((size_t)0x3fffffff - 1)

/* The whole tree under $1 ('.' or a subdirectory), one row per entry plus
 * the root itself (rel ''). pg_stat_file follows links: a tablespace link
 * shows as a directory, so it is recognised by its oid in pg_tablespace
 * (when $2, i.e. listing the data directory) and not entered. An in-place
 * tablespace has a relative location and is a real directory: entered. A
 * file that vanishes between pg_ls_dir and pg_stat_file has a NULL size
 * and is dropped; a directory that vanishes lists as empty (missing_ok). */
static const char LIST_SQL[] =
    "WITH RECURSIVE tree(rel, isdir, size, mtime, link) AS (\n"
    "  SELECT f.name, s.isdir, s.size, s.modification, NULL::text\n"
    "    FROM pg_catalog.pg_ls_dir($1::text, true, false) AS f(name),\n"
    "         LATERAL pg_catalog.pg_stat_file($1::text || '/' || f.name, true) AS s\n"
    "  UNION ALL\n"
    "  SELECT t.rel || '/' || f.name, s.isdir, s.size, s.modification,\n"
    "         CASE WHEN $2::boolean AND t.rel = 'pg_tblspc' THEN\n"
    "           (SELECT pg_catalog.pg_tablespace_location(ts.oid)\n"
    "              FROM pg_catalog.pg_tablespace ts WHERE ts.oid::text = f.name) END\n"
    "    FROM tree t,\n"
    "         LATERAL pg_catalog.pg_ls_dir($1::text || '/' || t.rel, true, false) AS f(name),\n"
    "         LATERAL pg_catalog.pg_stat_file($1::text || '/' || t.rel || '/' || f.name, true) AS s\n"
    "   WHERE t.isdir AND (t.link IS NULL OR t.link NOT LIKE '/%')\n"
    ")\n"
    "SELECT rel, isdir, size, pg_catalog.floor(EXTRACT(epoch FROM mtime))::int8, link\n"
    "  FROM tree WHERE size IS NOT NULL\n"
    "UNION ALL\n"
    "SELECT '', s.isdir, 0, pg_catalog.floor(EXTRACT(epoch FROM s.modification))::int8, NULL\n"
    "  FROM pg_catalog.pg_stat_file($1::text, true) AS s WHERE s.size IS NOT NULL";

/* One chunk, as rows of at most $4 bytes: (offset in the chunk, bytes).
 * Several small rows rather than one big value: the server streams each
 * row as soon as it has read it, so reading the file and sending overlap,
 * and neither side allocates (and faults in) chunk-sized buffers per query
 * -- one 4 MiB value measured several times slower here than 64 KiB rows.
 * NULL bytes: the file does not exist (missing_ok). */
static const char READ_SQL[] =
    "SELECT o - $2::int8,\n"
    "       pg_catalog.pg_read_binary_file($1::text, o,\n"
    "           LEAST($4::int8, $2::int8 + $3::int8 - o), true)\n"
    "  FROM pg_catalog.generate_series($2::int8, $2::int8 + $3::int8 - 1, $4::int8) AS o";

/* A whole small file (read_file). */
static const char READ_WHOLE_SQL[] =
    "SELECT pg_catalog.pg_read_binary_file($1::text, 0, $2::int8, true)";

/* A file's size now: a source that is not live checks it on a file's last
 * chunk. NULL when it does not exist. */
static const char SIZE_SQL[] = "SELECT (pg_catalog.pg_stat_file($1::text, true)).size";

/* Bytes per row of READ_SQL. */
#define READ_PIECE 65536

static const ss_pq_stmt STMTS[] = {
    { "segsync_list", LIST_SQL },
    { "segsync_read", READ_SQL },
    { "segsync_read_whole", READ_WHOLE_SQL },
    { "segsync_size", SIZE_SQL },
};

static const char PERM_HINT[] =
    "the role needs to be a superuser or to have EXECUTE on "
    "pg_catalog.pg_ls_dir(text, boolean, boolean), pg_catalog.pg_stat_file(text, boolean) "
    "and pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)";

typedef struct {
    ss_source base;
    ss_pqpool *pool;
    char *sub;              /* "" or "pg_tblspc/<oid>" */
    char *name;             /* "server HOST:PORT[/sub]" */
    ss_walk_opts wo;
    int has_wo;
    int live;
    uint32_t dmode, fmode;  /* modes listed for directories and files */
    _Atomic uint64_t wire;
} pq_source;

/* "sub/rel", or rel itself when there is no sub. NULL when out of memory. */
static char *server_path(const pq_source *ps, const char *rel)
{
    size_t a = strlen(ps->sub), b = strlen(rel);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    if (a) {
        memcpy(p, ps->sub, a);
        p[a] = '/';
        memcpy(p + a + 1, rel, b + 1);
    } else {
        memcpy(p, rel, b + 1);
    }
    return p;
}

static void count_result(pq_source *ps, const PGresult *r)
{
    uint64_t n = 0;
    int rows = PQntuples(r), cols = PQnfields(r);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            n += (uint64_t)PQgetlength(r, i, j) + 4;    /* 4: each value's length word */
    atomic_fetch_add(&ps->wire, n);
}

/* ---- list ---------------------------------------------------------------------- */

static int parse_i64(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *v = x;
    return 0;
}

static int pq_list(ss_source *s, ss_entry_list *out, ss_err *err)
{
    pq_source *ps = (pq_source *)s;
    memset(out, 0, sizeof *out);
    out->root.path = (char *)"";
    PGconn *c = ss_pqpool_get(ps->pool, err);
    if (!c)
        return -1;
    const char *params[2] = { *ps->sub ? ps->sub : ".", *ps->sub ? "f" : "t" };
    PGresult *r = PQexecPrepared(c, "segsync_list", 2, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        ss_pq_fail(c, r, "cannot list the data directory", PERM_HINT, err);
        ss_pqpool_put(ps->pool, c);
        return -1;
    }
    ss_pqpool_put(ps->pool, c);
    count_result(ps, r);
    uint32_t uid = (uint32_t)geteuid(), gid = (uint32_t)getegid();
    int rows = PQntuples(r), rc = 0, have_root = 0;
    for (int i = 0; i < rows && rc == 0; i++) {
        const char *rel = PQgetvalue(r, i, 0);
        int isdir = !strcmp(PQgetvalue(r, i, 1), "t");
        int64_t size = 0, mtime = 0;
        if (PQgetisnull(r, i, 2) || parse_i64(PQgetvalue(r, i, 2), &size) < 0 || size < 0 ||
            (!PQgetisnull(r, i, 3) && parse_i64(PQgetvalue(r, i, 3), &mtime) < 0)) {
            rc = ss_seterr(err, SS_EPROTO, 0, "source server: malformed listing row for '%s'", rel);
            break;
        }
        const char *link = PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4);
        ss_entry e = {
            .path = (char *)rel, .mtime_sec = mtime, .uid = uid, .gid = gid, .nlink = 1,
        };
        if (link && link[0] == '/') {
            e.type = SS_FT_LNK;
            e.link = (char *)link;
            e.mode = 0777;
        } else if (isdir) {
            e.type = SS_FT_DIR;
            e.mode = ps->dmode;
        } else {
            e.type = SS_FT_REG;
            e.mode = ps->fmode;
            e.size = (uint64_t)size;
        }
        if (!*rel) {
            if (e.type != SS_FT_DIR) {
                rc = ss_seterr(err, SS_ESOURCE, ENOTDIR, "source %s is not a directory", ps->name);
                break;
            }
            out->root = e;
            out->root.path = (char *)"";
            out->root.link = NULL;
            have_root = 1;
            continue;
        }
        /* The server's own listing, but a path that could leave the tree
         * is refused all the same: it would be written into the target. */
        if (!ss_path_is_safe(rel)) {
            rc = ss_seterr(err, SS_EPROTO, 0, "source server listed an unsafe path '%s'", rel);
            break;
        }
        rc = ss_entry_list_push(out, &e, err);
    }
    PQclear(r);
    if (rc == 0 && !have_root)
        rc = ss_seterr(err, SS_ESOURCE, ENOENT, "source %s does not exist", ps->name);
    if (rc == 0) {
        ss_entry_list_sort(out);
        if (ps->has_wo)
            rc = ss_walk_apply_opts(&ps->wo, out, err);
    }
    if (rc < 0) {
        ss_entry_list_free(out);
        return -1;
    }
    return 0;
}

/* ---- range --------------------------------------------------------------------- */

static uint64_t be64(const char *p)
{
    const unsigned char *b = (const unsigned char *)p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];      /* int8 in network order */
    return v;
}

/* Place the rows of a READ_SQL result into buf (req->len bytes). Returns 0,
 * 1 when the file is gone (a NULL row), -1 on a malformed answer; *short_at
 * is the offset in the chunk where the file ended early, or req->len. */
static int place_rows(const pq_source *ps, const PGresult *r, const ss_range_req *req, char *buf,
                      uint64_t *short_at, ss_err *err)
{
    uint64_t want = (req->len + READ_PIECE - 1) / READ_PIECE;
    *short_at = req->len;
    if (PQnfields(r) != 2 || (uint64_t)PQntuples(r) != want)
        return ss_seterr(err, SS_EPROTO, 0, "source server: unexpected answer reading %s/%s",
                         ps->name, req->path);
    for (int i = 0; i < PQntuples(r); i++) {
        if (PQgetisnull(r, i, 1))
            return 1;
        uint64_t at = PQgetlength(r, i, 0) == 8 && !PQgetisnull(r, i, 0) ? be64(PQgetvalue(r, i, 0))
                                                                          : UINT64_MAX;
        if (at != (uint64_t)i * READ_PIECE)
            return ss_seterr(err, SS_EPROTO, 0, "source server: rows out of order reading %s/%s",
                             ps->name, req->path);
        uint64_t piece = req->len - at < READ_PIECE ? req->len - at : READ_PIECE;
        uint64_t n = (uint64_t)PQgetlength(r, i, 1);
        if (n > piece)      /* never asked for: a confused server */
            n = piece;
        memcpy(buf + at, PQgetvalue(r, i, 1), (size_t)n);
        if (n < piece && at + n < *short_at)
            *short_at = at + n;
    }
    return 0;
}

/* For a source that is not live, on a file's last chunk: the size now. */
static int check_size(pq_source *ps, PGconn *c, const char *path, const ss_range_req *req,
                      ss_err *err)
{
    const char *params[1] = { path };
    PGresult *r = PQexecPrepared(c, "segsync_size", 1, params, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char what[512];
        snprintf(what, sizeof what, "cannot stat %s", path);
        return ss_pq_fail(c, r, what, PERM_HINT, err);
    }
    int rc = 0;
    if (PQgetisnull(r, 0, 0) || PQgetlength(r, 0, 0) != 8)
        rc = ss_seterr(err, SS_ECHANGED, 0, "source file %s/%s vanished while being read",
                       ps->name, req->path);
    else if (be64(PQgetvalue(r, 0, 0)) != req->file_size)
        rc = ss_seterr(err, SS_ECHANGED, 0,
                       "source file %s/%s changed size while being read (%" PRIu64
                       " bytes listed, %" PRIu64 " now)",
                       ps->name, req->path, req->file_size, be64(PQgetvalue(r, 0, 0)));
    PQclear(r);
    return rc;
}

static int pq_range(ss_source *s, ss_worker *w, const ss_range_req *req, ss_tsig_fn tsig,
                    void *tctx, ss_block_sink sink, void *sctx, ss_err *err)
{
    pq_source *ps = (pq_source *)s;
    if (req->len > w->buf_size)
        return ss_seterr(err, SS_EINTERNAL, 0, "range larger than the worker buffer");
    if (!ss_path_is_safe(req->path))
        return ss_seterr(err, SS_EUSAGE, 0, "refusing to read unsafe path '%s' from the source server",
                         req->path);
    char *path = server_path(ps, req->path);
    if (!path)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    PGconn *c = ss_pqpool_get(ps->pool, err);
    if (!c) {
        free(path);
        return -1;
    }
    char off[24], len[24], piece[24];
    snprintf(off, sizeof off, "%" PRIu64, req->off);
    snprintf(len, sizeof len, "%" PRIu64, req->len);
    snprintf(piece, sizeof piece, "%d", READ_PIECE);
    const char *params[4] = { path, off, len, piece };
    int rc = 0;
    if (!PQsendQueryPrepared(c, "segsync_read", 4, params, NULL, NULL, 1)) {
        rc = ss_pq_fail(c, NULL, "cannot send a read", NULL, err);
        ss_pqpool_put(ps->pool, c);
        free(path);
        return rc;
    }
    /* Pull the target's signatures now, while the server reads and sends. */
    const ss_sig *t = NULL;
    size_t nt = 0;
    if (req->compare)
        rc = tsig(tctx, &t, &nt, err);
    PGresult *r = ss_pq_collect(c);
    if (rc == 0 && PQresultStatus(r) != PGRES_TUPLES_OK) {
        char what[512];
        snprintf(what, sizeof what, "cannot read %s", path);
        rc = ss_pq_fail(c, r, what, PERM_HINT, err);
        r = NULL;
    }
    uint64_t short_at = req->len;
    if (rc == 0) {
        count_result(ps, r);
        rc = place_rows(ps, r, req, w->buf, &short_at, err);
    }
    PQclear(r);
    if (rc == 0 && req->last && !ps->live)
        rc = check_size(ps, c, path, req, err);
    ss_pqpool_put(ps->pool, c);
    if (rc == 1 && !ps->live)
        rc = ss_seterr(err, SS_ECHANGED, 0, "source file %s/%s vanished while being read",
                       ps->name, req->path);
    if (rc == 0 && short_at < req->len && ps->live)
        memset((char *)w->buf + short_at, 0, (size_t)(req->len - short_at));
    else if (rc == 0 && short_at < req->len)
        rc = ss_seterr(err, SS_ECHANGED, 0,
                       "source file %s/%s changed size while being read (shrank below %" PRIu64 " bytes)",
                       ps->name, req->path, req->off + req->len);
    free(path);
    if (rc != 0)
        return rc;
    return ss_source_emit_diff(req, w->buf, w->sigs, tsig, tctx, sink, sctx, err);
}

/* ---- read_file ----------------------------------------------------------------- */

int ss_source_libpq_read_file(ss_source *s, const char *path, size_t max, void **buf,
                              size_t *len, ss_err *err)
{
    pq_source *ps = (pq_source *)s;
    *buf = NULL;
    *len = 0;
    if (!ss_path_is_safe(path))
        return ss_seterr(err, SS_EUSAGE, 0, "refusing to read unsafe path '%s' from the source server",
                         path);
    /* One byte more than allowed tells "larger than max" from "exactly max". */
    size_t want = max < PQ_READ_MAX ? max + 1 : PQ_READ_MAX;
    char lenbuf[24];
    snprintf(lenbuf, sizeof lenbuf, "%zu", want);
    const char *params[2] = { path, lenbuf };
    PGconn *c = ss_pqpool_get(ps->pool, err);
    if (!c)
        return -1;
    PGresult *r = PQexecPrepared(c, "segsync_read_whole", 2, params, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char what[512];
        snprintf(what, sizeof what, "cannot read %s", path);
        ss_pq_fail(c, r, what, PERM_HINT, err);
        ss_pqpool_put(ps->pool, c);
        return -1;
    }
    ss_pqpool_put(ps->pool, c);
    count_result(ps, r);
    if (PQgetisnull(r, 0, 0)) {
        PQclear(r);
        return 1;
    }
    size_t n = (size_t)PQgetlength(r, 0, 0);
    if (n > max) {
        PQclear(r);
        return ss_seterr(err, SS_ESOURCE, EFBIG, "source %s: %s is larger than %zu bytes",
                         ps->name, path, max);
    }
    char *b = malloc(n + 1);
    if (!b) {
        PQclear(r);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "reading %s", path);
    }
    memcpy(b, PQgetvalue(r, 0, 0), n);
    b[n] = 0;
    PQclear(r);
    *buf = b;
    *len = n;
    return 0;
}

/* ---- the rest ------------------------------------------------------------------ */

static uint64_t pq_wire_bytes(ss_source *s)
{
    return atomic_load(&((pq_source *)s)->wire);
}

static void pq_destroy(ss_source *s)
{
    pq_source *ps = (pq_source *)s;
    if (!ps)
        return;
    ss_pqpool_close(ps->pool);
    free(ps->sub);
    free(ps->name);
    free(ps);
}

static const ss_source_ops pq_ops = {
    .list = pq_list,
    .range = pq_range,
    .wire_bytes = pq_wire_bytes,
    .copy_to = NULL,
    .destroy = pq_destroy,
};

/* Modes are not visible through SQL, but the data directory's is (PG 11+,
 * data_directory_mode: 0700, or 0750 with group access) and initdb gives
 * every directory that mode and every file the same without execute bits. */
static int read_modes(pq_source *ps, ss_err *err)
{
    ps->dmode = 0700;
    ps->fmode = 0600;
    PGconn *c = ss_pqpool_get(ps->pool, err);
    if (!c)
        return -1;
    PGresult *r = PQexec(c, "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'data_directory_mode'");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        ss_pq_fail(c, r, "cannot read data_directory_mode", NULL, err);
        ss_pqpool_put(ps->pool, c);
        return -1;
    }
    if (PQntuples(r) == 1) {
        unsigned long m = strtoul(PQgetvalue(r, 0, 0), NULL, 8);
        if (m && (m & ~0777ul) == 0 && (m & 0700) == 0700) {
            ps->dmode = (uint32_t)m;
            ps->fmode = (uint32_t)m & 0666;
        }
    }
    PQclear(r);
    ss_pqpool_put(ps->pool, c);
    return 0;
}

/* Name every function the role may not execute, so the error says exactly
 * which grant is missing. */
static int check_privileges(pq_source *ps, ss_err *err)
{
    static const char sql[] =
        "SELECT f FROM pg_catalog.unnest(ARRAY["
        "'pg_catalog.pg_ls_dir(text, boolean, boolean)', "
        "'pg_catalog.pg_stat_file(text, boolean)', "
        "'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)']) AS f "
        "WHERE NOT pg_catalog.has_function_privilege(f, 'EXECUTE')";
    PGconn *c = ss_pqpool_get(ps->pool, err);
    if (!c)
        return -1;
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        ss_pq_fail(c, r, "cannot check privileges", NULL, err);
        ss_pqpool_put(ps->pool, c);
        return -1;
    }
    const char *user = PQuser(c);
    char missing[512] = "";
    size_t used = 0;
    for (int i = 0; i < PQntuples(r) && used < sizeof missing; i++)
        used += (size_t)snprintf(missing + used, sizeof missing - used, "%s%s", i ? ", " : "",
                                 PQgetvalue(r, i, 0));
    int n = PQntuples(r);
    PQclear(r);
    int rc = 0;
    if (n)
        rc = ss_seterr(err, SS_ESOURCE, 0,
                       "source server: role \"%s\" cannot read the data directory: it needs to be "
                       "a superuser or to have EXECUTE on %s (GRANT EXECUTE ON FUNCTION ... TO \"%s\")",
                       user ? user : "?", missing, user ? user : "?");
    ss_pqpool_put(ps->pool, c);
    return rc;
}

int ss_source_libpq_open(ss_source **out, const char *conninfo, const char *sub,
                         const ss_walk_opts *wo, int live, unsigned nconn, ss_err *err)
{
    if (!sub)
        sub = "";
    if (*sub && !ss_path_is_safe(sub))
        return ss_seterr(err, SS_EUSAGE, 0, "source server: '%s' is not a path inside the data directory", sub);
    pq_source *ps = calloc(1, sizeof *ps);
    if (!ps || !(ps->sub = strdup(sub))) {
        free(ps);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    }
    /* 9.5: the missing_ok variants of pg_ls_dir, pg_stat_file and
     * pg_read_binary_file. */
    if (ss_pqpool_open(&ps->pool, conninfo, nconn ? nconn : 1, 90500, STMTS,
                       sizeof STMTS / sizeof *STMTS, err) < 0 ||
        check_privileges(ps, err) < 0 || read_modes(ps, err) < 0) {
        pq_destroy(&ps->base);
        return -1;
    }
    const char *where = ss_pqpool_where(ps->pool);
    size_t nlen = strlen(where) + strlen(sub) + 16;
    if (!(ps->name = malloc(nlen))) {
        pq_destroy(&ps->base);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    }
    snprintf(ps->name, nlen, "server %s%s%s", where, *sub ? "/" : "", sub);
    if (wo) {
        ps->wo = *wo;
        ps->has_wo = 1;
    }
    ps->live = live;
    ps->base.ops = &pq_ops;
    ps->base.name = ps->name;
    *out = &ps->base;
    return 0;
}
