/* pgcommon.c — see pgcommon.h. Moved out of pgsync.c unchanged in
 * behaviour so that incremental recovery (pgrewind.c) shares it. */
#include "engine/recovery/pgcommon.h"
#include "engine/pathsafe.h"
#include "engine/pg/control.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ss_pg_note(const ss_pg_recover_opts *o, const char *fmt, ...)
{
    if (!o->note)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    o->note(o->note_ctx, buf);
}

/* ---- what each pass lists --------------------------------------------------- */


/* Entries of the target that belong to the target instance and survive a
 * recovery untouched: Greenplum's per-instance logs, backups and markers. */
static int instance_owned(const char *path, int greenplum)
{
    if (!greenplum)
        return 0;
    return !strncmp(path, "log/", 4) || !strncmp(path, "backups/", 8) ||
           !strcmp(path, "db_dumps") || !strncmp(path, "db_dumps/", 9) || !strcmp(path, "promote");
}

/* The source side lists what a base backup sends. The target side lists
 * everything a base backup would not have produced, so that it is removed
 * (old replication slots, stale pg_stat_tmp, temporary files, unlogged
 * main forks): the end state is pg_basebackup's. Left alone on the target:
 * what later steps own (pg_control, tablespace links, WAL segments) and what
 * belongs to the instance (internal.auto.conf, Greenplum's log/). */
int ss_pg_data_filter_fn(void *ctx, const char *path, const struct stat *st)
{
    ss_pg_data_filter *f = ctx;
    char full[PATH_MAX];
    if (f->prefix) {
        if (snprintf(full, sizeof full, "%s%s", f->prefix, path) >= (int)sizeof full)
            return 0;
        path = full;
    } else {
        if (!strcmp(path, SS_PG_CONTROL_PATH) || !strncmp(path, "pg_tblspc/", 10))
            return 0;
        if (!strcmp(path, "backup_label") || !strcmp(path, "tablespace_map"))
            return 0;
    }
    if (f->target_side) {
        if (ss_pg_protected_on_target(path) || instance_owned(path, f->ex.greenplum))
            return 0;
        if (!strncmp(path, "pg_wal/", 7) && strcmp(path, "pg_wal/archive_status") &&
            strncmp(path, "pg_wal/archive_status/", 22))
            return 0;
        return 1;
    }
    return ss_pg_exclude_filter(&f->ex, path, st);
}

int ss_pg_data_finish_fn(void *ctx, ss_entry_list *l, ss_err *err)
{
    ss_pg_data_filter *f = ctx;
    if (f->target_side)
        return 0;
    return ss_pg_drop_unlogged(l, &f->ex, err) < 0 ? -1 : 0;
}

/* ---- one pass of the engine ------------------------------------------------ */

/* Paths of a tablespace pass are below the tablespace location; the
 * known-blocks hook wants them below the data directory. */
typedef struct {
    ss_pg_run *r;
    const char *prefix;
} known_prefix;

static int known_with_prefix(void *ctx, const char *path, const uint32_t **blocks, size_t *n)
{
    known_prefix *k = ctx;
    char full[PATH_MAX];
    if (snprintf(full, sizeof full, "%s%s", k->prefix, path) >= (int)sizeof full)
        return 0;
    return k->r->known_blocks(k->r->known_ctx, full, blocks, n);
}

int ss_pg_source_of(const ss_pg_recover_opts *o, ss_pgsrc **src, ss_pgsrc **own, ss_err *err)
{
    *own = NULL;
    if (o->source) {
        *src = o->source;
        return 0;
    }
    if (ss_pgsrc_local_open(own, o->source_dir, err) < 0)
        return -1;
    *src = *own;
    return 0;
}

int ss_pg_sync_pass(ss_pg_run *r, const char *sub, const char *dst_dir, const char *prefix,
                    ss_mode mode, ss_walk_opts *swo, ss_walk_opts *two, ss_err *err)
{
    const ss_pg_recover_opts *o = r->o;
    ss_source *src;
    if (r->src->ops->open_tree(r->src, sub, swo, o->conninfo != NULL, &src, err) < 0)
        return -1;
    ss_sync_opts so = {
        .mode = mode,
        .jobs = o->jobs,
        .block_size = r->blcksz,
        .chunk_size = o->chunk_size,
        .io = o->io,
        .dry_run = o->dry_run,
        .mtime = 1,
        .target = r->topts,
        .target_walk = two,
        .presig = strcmp(dst_dir, o->target_dir) == 0 ? o->presig : NULL,
        .event = o->event,
        .event_ctx = o->event_ctx,
        .cancelled = o->cancelled,
        .cancel_ctx = o->cancel_ctx,
    };
    known_prefix kp = { r, prefix ? prefix : "" };
    if (r->known_blocks) {
        so.known_blocks = known_with_prefix;
        so.known_ctx = &kp;
    }
    int rc = ss_sync(src, dst_dir, &so, r->ctr, err);
    src->ops->destroy(src);
    return rc < 0 ? -1 : 0;
}

const char *ss_pg_map_location(const ss_pg_recover_opts *o, const char *loc, char *buf, size_t n)
{
    for (size_t i = 0; i < o->nmaps; i++)
        if (!strcmp(o->maps[i].old_dir, loc))
            return o->maps[i].new_dir;
    if (o->target_dbid > 0) {
        /* Greenplum: <location>/<dbid> on the primary is <location>/<mirror dbid>. */
        const char *slash = strrchr(loc, '/');
        if (slash && slash[1] && strspn(slash + 1, "0123456789") == strlen(slash + 1)) {
            snprintf(buf, n, "%.*s/%d", (int)(slash - loc), loc, o->target_dbid);
            return buf;
        }
    }
    return loc;
}

int ss_pg_mkdir_p(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0) {
        if (errno != EEXIST)
            return -1;
        return 0;
    }
    if (uid != (uid_t)-1 && chown(tmp, uid, gid) < 0)
        return -1;
    return 0;
}

int ss_pg_sync_tablespaces(ss_pg_run *r, ss_mode mode, const ss_pg_data_filter *base, ss_err *err)
{
    const ss_pg_recover_opts *o = r->o;
    char tdir[PATH_MAX];
    snprintf(tdir, sizeof tdir, "%s/pg_tblspc", o->target_dir);
    ss_entry_list sl, tl;
    if (ss_pgsrc_tablespaces(r->src, &sl, err) < 0)
        return -1;
    ss_walk_opts shallow = {0};
    if (ss_walk(tdir, &shallow, &tl, err) < 0) {
        memset(&tl, 0, sizeof tl);
        if (!o->dry_run && ss_pg_mkdir_p(tdir, 0700, r->topts.owner == SS_OWNER_FIXED ? r->topts.fixed_uid : (uid_t)-1,
                                   r->topts.fixed_gid) < 0) {
            ss_entry_list_free(&sl);
            return ss_seterr(err, SS_ETARGET, errno, "cannot create %s", tdir);
        }
    }
    int rc = 0;
    uid_t uid = r->topts.owner == SS_OWNER_FIXED ? r->topts.fixed_uid : (uid_t)-1;
    gid_t gid = r->topts.fixed_gid;
    for (size_t i = 0; i < sl.n && rc == 0; i++) {
        const ss_entry *e = &sl.v[i];
        if (strchr(e->path, '/') || e->type != SS_FT_LNK)
            continue;
        char mbuf[PATH_MAX];
        const char *dst_loc = ss_pg_map_location(o, e->link, mbuf, sizeof mbuf);
        /* Only a source on this host can share a location with the
         * target. */
        char *rs = r->src->local_dir ? realpath(e->link, NULL) : NULL;
        char *rt = rs ? realpath(dst_loc, NULL) : NULL;
        int shared = rs && rt && !strcmp(rs, rt);
        free(rs);
        free(rt);
        if (shared) {
            rc = ss_seterr(err, SS_EUSAGE, 0,
                           "tablespace %s (pg_tblspc/%s) would be shared by source and target",
                           e->link, e->path);
            break;
        }
        ss_pg_note(o, "tablespace %s: %s -> %s", e->path, e->link, dst_loc);
        if (!o->dry_run) {
            char lpath[PATH_MAX], cur[PATH_MAX];
            if (snprintf(lpath, sizeof lpath, "%s/%s", tdir, e->path) >= (int)sizeof lpath) {
                rc = ss_seterr(err, SS_ETARGET, ENAMETOOLONG, "%s/%s", tdir, e->path);
                break;
            }
            ssize_t n = readlink(lpath, cur, sizeof cur - 1);
            if (n < 0 || (size_t)n != strlen(dst_loc) || memcmp(cur, dst_loc, (size_t)n)) {
                struct stat st;
                if (lstat(lpath, &st) == 0 && S_ISDIR(st.st_mode))
                    rc = ss_seterr(err, SS_ETARGET, EISDIR, "%s is a directory, expected a tablespace link", lpath);
                else if (unlink(lpath) < 0 && errno != ENOENT)
                    rc = ss_seterr(err, SS_ETARGET, errno, "cannot replace %s", lpath);
                else if (symlink(dst_loc, lpath) < 0)
                    rc = ss_seterr(err, SS_ETARGET, errno, "cannot create tablespace link %s", lpath);
                else if (uid != (uid_t)-1 && lchown(lpath, uid, gid) < 0)
                    rc = ss_seterr(err, SS_ETARGET, errno, "cannot set owner of %s", lpath);
            }
            if (rc == 0 && ss_pg_mkdir_p(dst_loc, 0700, uid, gid) < 0)
                rc = ss_seterr(err, SS_ETARGET, errno, "cannot create tablespace directory %s", dst_loc);
        }
        if (rc < 0)
            break;
        char prefix[PATH_MAX];
        snprintf(prefix, sizeof prefix, "pg_tblspc/%s/", e->path);
        ss_pg_data_filter sf = *base, tf = *base;
        sf.prefix = tf.prefix = prefix;
        sf.target_side = 0;
        tf.target_side = 1;
        ss_walk_opts swo = { .filter = ss_pg_data_filter_fn, .finish = ss_pg_data_finish_fn, .ctx = &sf,
                             .skipped = sf.ex.skipped };
        ss_walk_opts two = { .filter = ss_pg_data_filter_fn, .finish = ss_pg_data_finish_fn, .ctx = &tf };
        tf.ex.skipped = NULL;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "pg_tblspc/%s", e->path);
        if (!o->dry_run || access(dst_loc, F_OK) == 0)
            rc = ss_pg_sync_pass(r, sub, dst_loc, prefix, mode, &swo, &two, err);
    }
    /* Tablespace links the source does not have: remove the link only; the
     * location may hold another instance's data. */
    for (size_t i = 0; i < tl.n && rc == 0; i++) {
        const ss_entry *e = &tl.v[i];
        if (strchr(e->path, '/'))
            continue;
        int found = 0;
        for (size_t j = 0; j < sl.n && !found; j++)
            found = !strcmp(sl.v[j].path, e->path);
        if (found)
            continue;
        char lpath[PATH_MAX];
        if (snprintf(lpath, sizeof lpath, "%s/%s", tdir, e->path) >= (int)sizeof lpath)
            continue;
        ss_pg_note(o, "removing tablespace link %s", lpath);
        if (!o->dry_run && unlink(lpath) < 0 && errno != ENOENT && errno != EISDIR)
            rc = ss_seterr(err, SS_ETARGET, errno, "cannot remove %s", lpath);
    }
    ss_entry_list_free(&sl);
    ss_entry_list_free(&tl);
    return rc;
}

int ss_pg_target_owner(const ss_pg_recover_opts *o, ss_target_opts *t)
{
    memset(t, 0, sizeof *t);
    if (geteuid() != 0)
        return 0;
    struct stat st;
    if (stat(o->target_dir, &st) < 0) {
        /* A new data directory gets the owner of the place it is made in. */
        char parent[PATH_MAX];
        snprintf(parent, sizeof parent, "%s", o->target_dir);
        size_t n = strlen(parent);
        while (n > 1 && parent[n - 1] == '/')
            parent[--n] = 0;
        char *slash = strrchr(parent, '/');
        if (!slash)
            snprintf(parent, sizeof parent, ".");
        else if (slash == parent)
            parent[1] = 0;
        else
            *slash = 0;
        if (stat(parent, &st) < 0)
            return -1;
    }
    t->owner = SS_OWNER_FIXED;
    t->fixed_uid = st.st_uid;
    t->fixed_gid = st.st_gid;
    return 0;
}

int ss_pg_remove_target_control(const ss_pg_recover_opts *o, ss_err *err)
{
    char p[PATH_MAX], g[PATH_MAX];
    /* A backup_label or tablespace_map left by an earlier run would point
     * recovery at that run's checkpoint: they go now and are written again
     * from this run's bracket, if it has one. */
    static const char *const stale[] = { "backup_label", "tablespace_map" };
    for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", o->target_dir, stale[i]);
        if (unlink(p) < 0 && errno != ENOENT)
            return ss_seterr(err, SS_ETARGET, errno, "cannot remove %s", p);
    }
    snprintf(p, sizeof p, "%s/%s", o->target_dir, SS_PG_CONTROL_PATH);
    if (unlink(p) < 0 && errno != ENOENT && errno != ENOTDIR)
        return ss_seterr(err, SS_ETARGET, errno, "cannot remove %s", p);
    snprintf(g, sizeof g, "%s/global", o->target_dir);
    int fd = open(g, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return 0;
}
