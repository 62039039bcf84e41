/* pgsource_libpq.c — a PostgreSQL source read through the server's own
 * connection (see pgsource.h and source_libpq.h): for when no agent can
 * run on the source host. One pool per tree opened. */
#include "engine/recovery/pgsource.h"
#include "engine/source_libpq.h"

#include <errno.h>
#include <stdlib.h>

typedef struct {
    ss_pgsrc pub;
    const char *conninfo;
    unsigned nconn;
    ss_source *files;           /* nconn = 1, for small reads */
    uint64_t wire_done;         /* of the trees already destroyed */
} libpq_pgsrc;

/* A tree's source, counted into the pgsrc's wire bytes when it goes. */
typedef struct {
    ss_source pub;
    ss_source *inner;
    libpq_pgsrc *owner;
} counted_src;

static int c_list(ss_source *s, ss_entry_list *out, ss_err *err)
{
    counted_src *c = (counted_src *)s;
    return c->inner->ops->list(c->inner, out, err);
}

static int c_range(ss_source *s, ss_worker *w, const ss_range_req *req, ss_tsig_fn tsig,
                   void *tctx, ss_block_sink sink, void *sctx, ss_err *err)
{
    counted_src *c = (counted_src *)s;
    return c->inner->ops->range(c->inner, w, req, tsig, tctx, sink, sctx, err);
}

static uint64_t c_wire(ss_source *s)
{
    counted_src *c = (counted_src *)s;
    return c->inner->ops->wire_bytes(c->inner);
}

static void c_destroy(ss_source *s)
{
    counted_src *c = (counted_src *)s;
    c->owner->wire_done += c->inner->ops->wire_bytes(c->inner);
    c->inner->ops->destroy(c->inner);
    free(c);
}

static const ss_source_ops counted_ops = {
    .list = c_list, .range = c_range, .wire_bytes = c_wire, .copy_to = NULL, .destroy = c_destroy,
};

static int lp_read_file(ss_pgsrc *p, const char *path, size_t max, void **buf, size_t *len,
                        ss_err *err)
{
    return ss_source_libpq_read_file(((libpq_pgsrc *)p)->files, path, max, buf, len, err);
}

static int lp_open_tree(ss_pgsrc *p, const char *sub, const ss_walk_opts *wo, int live,
                        ss_source **out, ss_err *err)
{
    libpq_pgsrc *l = (libpq_pgsrc *)p;
    counted_src *c = calloc(1, sizeof *c);
    if (!c)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "source");
    if (ss_source_libpq_open(&c->inner, l->conninfo, sub, wo, live, l->nconn, err) < 0) {
        free(c);
        return -1;
    }
    c->pub.ops = &counted_ops;
    c->pub.name = c->inner->name;
    c->owner = l;
    *out = &c->pub;
    return 0;
}

/* The connection works: the server runs (and the recovery takes its
 * bracket or checkpoint through --source-server). */
static int lp_running(ss_pgsrc *p, ss_err *err)
{
    (void)p;
    (void)err;
    return 1;
}

static uint64_t lp_wire(ss_pgsrc *p)
{
    libpq_pgsrc *l = (libpq_pgsrc *)p;
    return l->wire_done + l->files->ops->wire_bytes(l->files);
}

static void lp_destroy(ss_pgsrc *p)
{
    libpq_pgsrc *l = (libpq_pgsrc *)p;
    l->files->ops->destroy(l->files);
    free(l);
}

static const ss_pgsrc_ops libpq_ops = {
    .read_file = lp_read_file,
    .open_tree = lp_open_tree,
    .postmaster_running = lp_running,
    .wire_bytes = lp_wire,
    .destroy = lp_destroy,
};

int ss_pgsrc_libpq_open(ss_pgsrc **out, const char *conninfo, unsigned nconn, ss_err *err)
{
    libpq_pgsrc *l = calloc(1, sizeof *l);
    if (!l)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "source");
    l->pub.ops = &libpq_ops;
    l->pub.name = "server";
    l->conninfo = conninfo;
    l->nconn = nconn ? nconn : 1;
    /* Small files only: the listing is not needed, so list nothing. */
    if (ss_source_libpq_open(&l->files, conninfo, "", NULL, 1, 1, err) < 0) {
        free(l);
        return -1;
    }
    *out = &l->pub;
    return 0;
}
