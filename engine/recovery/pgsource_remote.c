/* pgsource_remote.c — a PostgreSQL source behind a segsync agent (see
 * pgsource.h). Every tree is a view of the one session to the agent, which
 * follows pg_tblspc/<oid> links of the data directory it serves. */
#include "engine/recovery/pgsource.h"
#include "engine/source_remote.h"

#include <errno.h>
#include <stdlib.h>

typedef struct {
    ss_pgsrc pub;
    ss_source *base;
} remote_pgsrc;

static int remote_read_file(ss_pgsrc *p, const char *path, size_t max, void **buf, size_t *len,
                            ss_err *err)
{
    return ss_source_remote_read_file(((remote_pgsrc *)p)->base, path, max, buf, len, err);
}

static int remote_open_tree(ss_pgsrc *p, const char *sub, const ss_walk_opts *wo, int live,
                            ss_source **out, ss_err *err)
{
    return ss_source_remote_subtree(((remote_pgsrc *)p)->base, sub, wo, live, out, err);
}

/* The agent cannot tell whether a pid on its host is alive; a clean
 * shutdown removes postmaster.pid, so its presence means "maybe running". */
static int remote_running(ss_pgsrc *p, ss_err *err)
{
    return ss_pgsrc_exists(p, "postmaster.pid", err);
}

static uint64_t remote_wire(ss_pgsrc *p)
{
    ss_source *b = ((remote_pgsrc *)p)->base;
    return b->ops->wire_bytes(b);
}

static void remote_destroy(ss_pgsrc *p)
{
    remote_pgsrc *r = (remote_pgsrc *)p;
    r->base->ops->destroy(r->base);
    free(r);
}

static const ss_pgsrc_ops remote_ops = {
    .read_file = remote_read_file,
    .open_tree = remote_open_tree,
    .postmaster_running = remote_running,
    .wire_bytes = remote_wire,
    .destroy = remote_destroy,
};

int ss_pgsrc_remote_open(ss_pgsrc **out, ss_source *base, ss_err *err)
{
    remote_pgsrc *r = calloc(1, sizeof *r);
    if (!r) {
        base->ops->destroy(base);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "source");
    }
    r->pub.ops = &remote_ops;
    r->pub.name = base->name;
    r->base = base;
    *out = &r->pub;
    return 0;
}
