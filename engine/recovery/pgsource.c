/* pgsource.c — see pgsource.h: the helpers shared by every source of a
 * PostgreSQL recovery, and the one on this host. */
#include "engine/recovery/pgsource.h"
#include "engine/recovery/pgsync.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ss_pgsrc_destroy(ss_pgsrc *p)
{
    if (p)
        p->ops->destroy(p);
}

int ss_pgsrc_read_control(ss_pgsrc *p, ss_pg_control *out, ss_err *err)
{
    void *buf = NULL;
    size_t len = 0;
    /* pg_control is one block: 8 KiB, 32 KiB in Greenplum. */
    int rc = p->ops->read_file(p, SS_PG_CONTROL_PATH, 1u << 20, &buf, &len, err);
    if (rc == 1)
        return ss_seterr(err, SS_ECLUSTER, ENOENT, "source %s: %s does not exist (not a data directory?)",
                         p->name, SS_PG_CONTROL_PATH);
    if (rc < 0) {
        ss_err_prefix(err, "source: ");
        return -1;
    }
    char what[PATH_MAX];
    snprintf(what, sizeof what, "%s/%s", p->name, SS_PG_CONTROL_PATH);
    rc = ss_pg_control_parse(buf, len, what, out, err);
    free(buf);
    if (rc < 0)
        ss_err_prefix(err, "source: ");
    return rc;
}

int ss_pgsrc_read_history(ss_pgsrc *p, uint32_t tli, ss_wal_tli_range **out, size_t *n,
                          ss_err *err)
{
    if (tli == 1)
        return ss_rewind_parse_history("", 1, out, n, err);
    char path[64];
    snprintf(path, sizeof path, "pg_wal/%08X.history", tli);
    void *buf = NULL;
    size_t len = 0;
    int rc = p->ops->read_file(p, path, 16u << 20, &buf, &len, err);
    if (rc == 1)
        return ss_seterr(err, SS_ECLUSTER, ENOENT, "cannot read timeline history %s/%s: it does not exist",
                         p->name, path);
    if (rc < 0)
        return -1;
    rc = ss_rewind_parse_history(buf, tli, out, n, err);
    free(buf);
    if (rc < 0) {
        char where[PATH_MAX];
        snprintf(where, sizeof where, "%s/%s: ", p->name, path);
        ss_err_prefix(err, where);
    }
    return rc;
}

int ss_pgsrc_exists(ss_pgsrc *p, const char *path, ss_err *err)
{
    void *buf = NULL;
    size_t len = 0;
    int rc = p->ops->read_file(p, path, 16u << 20, &buf, &len, err);
    free(buf);
    return rc < 0 ? -1 : rc == 0;
}

static int tblspc_only(void *ctx, const char *path, const struct stat *st)
{
    (void)ctx;
    if (!strcmp(path, "pg_tblspc"))
        return S_ISDIR(st->st_mode);
    if (strncmp(path, "pg_tblspc/", 10) != 0 || strchr(path + 10, '/'))
        return 0;
    return S_ISLNK(st->st_mode) && path[10] && strspn(path + 10, "0123456789") == strlen(path + 10);
}

int ss_pgsrc_tablespaces(ss_pgsrc *p, ss_entry_list *out, ss_err *err)
{
    memset(out, 0, sizeof *out);
    ss_walk_opts wo = { .filter = tblspc_only };
    ss_source *s;
    if (p->ops->open_tree(p, "", &wo, 0, &s, err) < 0)
        return -1;
    ss_entry_list all;
    int rc = s->ops->list(s, &all, err);
    s->ops->destroy(s);
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < all.n && rc == 0; i++) {
        const ss_entry *e = &all.v[i];
        if (e->type != SS_FT_LNK || !e->link || strncmp(e->path, "pg_tblspc/", 10) != 0)
            continue;
        ss_entry c = *e;
        c.path = (char *)e->path + 10;
        rc = ss_entry_list_push(out, &c, err);
    }
    ss_entry_list_free(&all);
    if (rc < 0)
        ss_entry_list_free(out);
    return rc;
}

/* ---- a data directory on this host ----------------------------------------- */

typedef struct {
    ss_pgsrc pub;
    const char *dir;
} local_pgsrc;

static int local_read_file(ss_pgsrc *p, const char *path, size_t max, void **buf, size_t *len,
                           ss_err *err)
{
    local_pgsrc *l = (local_pgsrc *)p;
    char full[PATH_MAX];
    if (snprintf(full, sizeof full, "%s/%s", l->dir, path) >= (int)sizeof full)
        return ss_seterr(err, SS_ESOURCE, ENAMETOOLONG, "%s/%s", l->dir, path);
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 1;
        return ss_seterr(err, SS_ESOURCE, errno, "cannot open %s", full);
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ss_seterr(err, SS_ESOURCE, S_ISREG(st.st_mode) ? errno : EINVAL,
                         "%s is not a regular file", full);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return ss_seterr(err, SS_ESOURCE, EFBIG, "%s is larger than %zu bytes", full, max);
    }
    size_t cap = (size_t)st.st_size + 1;
    char *b = malloc(cap);
    if (!b) {
        close(fd);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "reading %s", full);
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, b + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(b);
            close(fd);
            return ss_seterr(err, SS_ESOURCE, e, "cannot read %s", full);
        }
        if (r == 0 || (n += (size_t)r) == cap - 1)
            break;
    }
    close(fd);
    b[n] = 0;
    *buf = b;
    *len = n;
    return 0;
}

static int local_open_tree(ss_pgsrc *p, const char *sub, const ss_walk_opts *wo, int live,
                           ss_source **out, ss_err *err)
{
    local_pgsrc *l = (local_pgsrc *)p;
    char root[PATH_MAX];
    /* The root is opened following links: that is how pg_tblspc/<oid>
     * reaches its location; nothing below it is followed. */
    if (snprintf(root, sizeof root, "%s%s%s", l->dir, *sub ? "/" : "", sub) >= (int)sizeof root)
        return ss_seterr(err, SS_ESOURCE, ENAMETOOLONG, "%s/%s", l->dir, sub);
    if (ss_source_local_open(out, root, wo, err) < 0)
        return -1;
    ss_source_local_set_live(*out, live);
    return 0;
}

static int local_running(ss_pgsrc *p, ss_err *err)
{
    (void)err;
    return ss_pg_postmaster_running(((local_pgsrc *)p)->dir, NULL);
}

static uint64_t local_wire(ss_pgsrc *p)
{
    (void)p;
    return 0;
}

static void local_destroy(ss_pgsrc *p)
{
    free(p);
}

static const ss_pgsrc_ops local_ops = {
    .read_file = local_read_file,
    .open_tree = local_open_tree,
    .postmaster_running = local_running,
    .wire_bytes = local_wire,
    .destroy = local_destroy,
};

int ss_pgsrc_local_open(ss_pgsrc **out, const char *dir, ss_err *err)
{
    local_pgsrc *l = calloc(1, sizeof *l);
    if (!l)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "source");
    l->pub.ops = &local_ops;
    l->pub.name = dir;
    l->pub.local_dir = dir;
    l->dir = dir;
    *out = &l->pub;
    return 0;
}
