#include "engine/recovery/pgsync.h"
#include "engine/pathsafe.h"
#include "engine/pg/control.h"
#include "engine/pg/exclude.h"
#include "engine/pg/recoveryconf.h"
#include "engine/pg/session.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small helpers -------------------------------------------------------- */

static void note(const ss_pg_recover_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(const ss_pg_recover_opts *o, const char *fmt, ...)
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

int ss_pg_postmaster_running(const char *datadir, long *pid)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/postmaster.pid", datadir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long p = 0;
    int ok = fscanf(f, "%ld", &p) == 1;
    fclose(f);
    if (!ok || p <= 0)
        return 0;
    if (pid)
        *pid = p;
    return kill((pid_t)p, 0) == 0 || errno == EPERM;
}

/* ---- what each pass lists --------------------------------------------------- */

typedef struct {
    ss_pg_exclude_opts ex;
    const char *prefix;         /* "pg_tblspc/<oid>/" for a tablespace pass */
    int target_side;
} data_filter;

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
static int data_filter_fn(void *ctx, const char *path, const struct stat *st)
{
    data_filter *f = ctx;
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

static int data_finish_fn(void *ctx, ss_entry_list *l, ss_err *err)
{
    data_filter *f = ctx;
    if (f->target_side)
        return 0;
    return ss_pg_drop_unlogged(l, &f->ex, err) < 0 ? -1 : 0;
}

typedef struct {
    int all_segments;           /* a shut-down source: every segment */
    uint32_t tli;
    uint64_t first, last;       /* segment numbers */
    uint32_t seg_size;
    int target_side;
} wal_filter;

static int parse_segment(const char *name, uint32_t seg_size, uint32_t *tli, uint64_t *segno)
{
    if (strlen(name) != 24 || strspn(name, "0123456789ABCDEF") != 24)
        return -1;
    char part[9] = {0};
    memcpy(part, name, 8);
    *tli = (uint32_t)strtoul(part, NULL, 16);
    memcpy(part, name + 8, 8);
    uint64_t log = strtoull(part, NULL, 16);
    memcpy(part, name + 16, 8);
    uint64_t seg = strtoull(part, NULL, 16);
    *segno = log * (0x100000000ull / seg_size) + seg;
    return 0;
}

static int wal_filter_fn(void *ctx, const char *path, const struct stat *st)
{
    wal_filter *f = ctx;
    if (!strcmp(path, "pg_wal"))
        return 1;
    if (strncmp(path, "pg_wal/", 7) != 0 || strchr(path + 7, '/'))
        return 0;
    const char *name = path + 7;
    if (!S_ISREG(st->st_mode))
        return 0;   /* archive_status and friends stay as they are */
    if (f->target_side)
        return 1;   /* every old file is a candidate for removal */
    size_t n = strlen(name);
    if (n > 8 && !strcmp(name + n - 8, ".history"))
        return 1;
    uint32_t tli;
    uint64_t segno;
    if (parse_segment(name, f->seg_size, &tli, &segno) < 0)
        return 0;
    if (f->all_segments)
        return 1;
    return tli == f->tli && segno >= f->first && segno <= f->last;
}

/* ---- one pass of the engine ------------------------------------------------ */

typedef struct {
    const ss_pg_recover_opts *o;
    ss_counters *ctr;
    ss_target_opts topts;
    uint32_t blcksz;
} run_ctx;

static int sync_pass(run_ctx *r, const char *src_dir, const char *dst_dir, ss_mode mode,
                     ss_walk_opts *swo, ss_walk_opts *two, ss_err *err)
{
    const ss_pg_recover_opts *o = r->o;
    ss_source *src;
    if (ss_source_local_open(&src, src_dir, swo, err) < 0)
        return -1;
    ss_source_local_set_live(src, o->conninfo != NULL);
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
        .event = o->event,
        .event_ctx = o->event_ctx,
        .cancelled = o->cancelled,
        .cancel_ctx = o->cancel_ctx,
    };
    int rc = ss_sync(src, dst_dir, &so, r->ctr, err);
    src->ops->destroy(src);
    return rc < 0 ? -1 : 0;
}

/* ---- tablespaces ------------------------------------------------------------ */

static const char *map_location(const ss_pg_recover_opts *o, const char *loc, char *buf, size_t n)
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

/* tablespace_map lines are "<oid> <location>"; map each location. */
static char *map_spcmap(const ss_pg_recover_opts *o, const char *in)
{
    size_t cap = strlen(in) + 1 + 64;
    for (size_t i = 0; i < o->nmaps; i++)
        cap += strlen(o->maps[i].new_dir) + 16;
    char *out = malloc(cap + PATH_MAX);
    if (!out)
        return NULL;
    size_t n = 0;
    out[0] = 0;
    const char *p = in;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[2 * PATH_MAX], mbuf[PATH_MAX];
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        char *sp = strchr(line, ' ');
        const char *loc = sp ? map_location(o, sp + 1, mbuf, sizeof mbuf) : NULL;
        int w = sp ? snprintf(out + n, cap + PATH_MAX - n, "%.*s %s\n", (int)(sp - line), line, loc)
                   : snprintf(out + n, cap + PATH_MAX - n, "%s\n", line);
        if (w < 0 || (size_t)w >= cap + PATH_MAX - n) {
            free(out);
            return NULL;
        }
        n += (size_t)w;
        p = nl ? nl + 1 : p + len;
    }
    return out;
}

static int mkdir_p(const char *path, mode_t mode, uid_t uid, gid_t gid)
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

static int sync_tablespaces(run_ctx *r, ss_mode mode, const data_filter *base, ss_err *err)
{
    const ss_pg_recover_opts *o = r->o;
    char sdir[PATH_MAX], tdir[PATH_MAX];
    snprintf(sdir, sizeof sdir, "%s/pg_tblspc", o->source_dir);
    snprintf(tdir, sizeof tdir, "%s/pg_tblspc", o->target_dir);
    ss_entry_list sl, tl;
    if (ss_walk(sdir, NULL, &sl, err) < 0)
        return errno == ENOENT ? 0 : -1;
    ss_walk_opts shallow = {0};
    if (ss_walk(tdir, &shallow, &tl, err) < 0) {
        memset(&tl, 0, sizeof tl);
        if (!o->dry_run && mkdir_p(tdir, 0700, r->topts.owner == SS_OWNER_FIXED ? r->topts.fixed_uid : (uid_t)-1,
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
        const char *dst_loc = map_location(o, e->link, mbuf, sizeof mbuf);
        char *rs = realpath(e->link, NULL), *rt = realpath(dst_loc, NULL);
        int shared = rs && rt && !strcmp(rs, rt);
        free(rs);
        free(rt);
        if (shared) {
            rc = ss_seterr(err, SS_EUSAGE, 0,
                           "tablespace %s (pg_tblspc/%s) would be shared by source and target",
                           e->link, e->path);
            break;
        }
        note(o, "tablespace %s: %s -> %s", e->path, e->link, dst_loc);
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
            if (rc == 0 && mkdir_p(dst_loc, 0700, uid, gid) < 0)
                rc = ss_seterr(err, SS_ETARGET, errno, "cannot create tablespace directory %s", dst_loc);
        }
        if (rc < 0)
            break;
        char prefix[PATH_MAX];
        snprintf(prefix, sizeof prefix, "pg_tblspc/%s/", e->path);
        data_filter sf = *base, tf = *base;
        sf.prefix = tf.prefix = prefix;
        sf.target_side = 0;
        tf.target_side = 1;
        ss_walk_opts swo = { .filter = data_filter_fn, .finish = data_finish_fn, .ctx = &sf,
                             .skipped = sf.ex.skipped };
        ss_walk_opts two = { .filter = data_filter_fn, .finish = data_finish_fn, .ctx = &tf };
        tf.ex.skipped = NULL;
        if (!o->dry_run || access(dst_loc, F_OK) == 0)
            rc = sync_pass(r, e->link, dst_loc, mode, &swo, &two, err);
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
        note(o, "removing tablespace link %s", lpath);
        if (!o->dry_run && unlink(lpath) < 0 && errno != ENOENT && errno != EISDIR)
            rc = ss_seterr(err, SS_ETARGET, errno, "cannot remove %s", lpath);
    }
    ss_entry_list_free(&sl);
    ss_entry_list_free(&tl);
    return rc;
}

/* ---- the recovery ----------------------------------------------------------- */

static int check_cluster(const ss_pg_recover_opts *o, ss_pg_control *sc, int *target_has_control,
                         ss_err *err)
{
    long pid = 0;
    if (ss_pg_control_read(o->source_dir, sc, err) < 0) {
        ss_err_prefix(err, "source: ");
        return -1;
    }
    if (ss_pg_postmaster_running(o->target_dir, &pid))
        return ss_seterr(err, SS_EUSAGE, 0,
                         "target %s is running (postmaster.pid names live process %ld); stop it first",
                         o->target_dir, pid);
    int stopped = sc->state == SS_PG_DB_SHUTDOWNED || sc->state == SS_PG_DB_SHUTDOWNED_IN_RECOVERY;
    if (!o->conninfo && (!stopped || ss_pg_postmaster_running(o->source_dir, NULL)))
        return ss_seterr(err, SS_EUSAGE, 0,
                         "source %s is running (state \"%s\"); give --source-server=CONNINFO so a backup can be taken",
                         o->source_dir, ss_pg_dbstate_name(sc->state));
    ss_pg_control tc;
    ss_err terr;
    *target_has_control = 0;
    if (ss_pg_control_read(o->target_dir, &tc, &terr) == 0) {
        *target_has_control = 1;
        if (!o->full && ss_pg_control_same_cluster(sc, &tc, "source", "target", err) < 0)
            return -1;
    } else if (!o->full) {
        struct stat st;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/PG_VERSION", o->target_dir);
        if (stat(p, &st) < 0) {
            /* Neither a control file nor PG_VERSION: not a data directory
             * (or an empty one); differential still works, it copies all. */
            note(o, "target %s holds no data directory; every file will be copied", o->target_dir);
        } else {
            note(o, "target %s has no usable pg_control (%s); continuing an interrupted run",
                 o->target_dir, terr.msg);
        }
    }
    return 0;
}

static int target_owner(const ss_pg_recover_opts *o, ss_target_opts *t)
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

static int remove_target_control(const ss_pg_recover_opts *o, ss_err *err)
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

static int write_control_last(const ss_pg_recover_opts *o, const ss_target_opts *to, ss_err *err)
{
    ss_pg_control c;
    if (ss_pg_control_read(o->source_dir, &c, err) < 0)
        return -1;
    int fd = open(o->target_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ss_seterr(err, SS_ETARGET, errno, "cannot open %s", o->target_dir);
    int rc = ss_pg_write_file(fd, o->target_dir, SS_PG_CONTROL_PATH, c.raw, sizeof c.raw,
                              to->owner == SS_OWNER_FIXED ? to->fixed_uid : (uid_t)-1,
                              to->fixed_gid, err);
    close(fd);
    return rc;
}

int ss_pg_recover(const ss_pg_recover_opts *o, ss_counters *ctr, ss_err *err)
{
    ss_pg_control sc;
    int target_has_control = 0;
    if (check_cluster(o, &sc, &target_has_control, err) < 0)
        return -1;

    run_ctx r = { .o = o, .ctr = ctr, .blcksz = sc.blcksz };
    if (target_owner(o, &r.topts) < 0)
        return ss_seterr(err, SS_EUSAGE, errno, "target %s: its parent directory is missing", o->target_dir);

    char gp_path[PATH_MAX];
    snprintf(gp_path, sizeof gp_path, "%s/internal.auto.conf", o->source_dir);
    int greenplum = o->greenplum >= 0 ? o->greenplum : access(gp_path, F_OK) == 0;
    ss_mode mode = o->full && !o->in_place ? SS_MODE_FULL : SS_MODE_DIFF;

    ss_pg_session *sess = NULL;
    ss_pg_backup_start bstart = {0};
    ss_pg_backup_stop bstop = {0};
    int live = o->conninfo != NULL;
    int rc = -1;

    if (live && !o->dry_run) {
        if (ss_pg_session_open(&sess, o->conninfo, err) < 0)
            return -1;
        if (o->slot) {
            int created = 0;
            if (ss_pg_ensure_slot(sess, o->slot, &created, err) < 0)
                goto out;
            note(o, "replication slot \"%s\" %s", o->slot, created ? "created" : "reused");
        }
        if (ss_pg_backup_begin(sess, o->label ? o->label : "segsync", o->fast_checkpoint, &bstart, err) < 0)
            goto out;
        note(o, "backup started at %X/%X on timeline %u", (unsigned)(bstart.lsn >> 32),
             (unsigned)bstart.lsn, bstart.tli);
    }

    /* From here on the target changes: make it unstartable until the end. */
    if (!o->dry_run) {
        if (access(o->target_dir, F_OK) < 0 && mkdir_p(o->target_dir, 0700,
                r.topts.owner == SS_OWNER_FIXED ? r.topts.fixed_uid : (uid_t)-1, r.topts.fixed_gid) < 0) {
            ss_seterr(err, SS_ETARGET, errno, "cannot create target %s", o->target_dir);
            goto out;
        }
        if (remove_target_control(o, err) < 0)
            goto out;
    }

    data_filter sf = { .ex = { .skip_wal = 1, .greenplum = greenplum } }, tf = sf;
    tf.target_side = 1;
    ss_walk_opts swo = { .filter = data_filter_fn, .finish = data_finish_fn, .ctx = &sf };
    ss_walk_opts two = { .filter = data_filter_fn, .finish = data_finish_fn, .ctx = &tf };
    note(o, "syncing %s -> %s (%s)", o->source_dir, o->target_dir, mode == SS_MODE_FULL ? "full copy" : "changed blocks only");
    if (sync_pass(&r, o->source_dir, o->target_dir, mode, &swo, &two, err) < 0)
        goto out;
    if (sync_tablespaces(&r, mode, &sf, err) < 0)
        goto out;

    wal_filter ws = { .seg_size = sc.xlog_seg_size }, wt;
    if (sess) {
        if (ss_pg_backup_end(sess, &bstop, err) < 0)
            goto out;
        note(o, "backup stopped at %X/%X", (unsigned)(bstop.lsn >> 32), (unsigned)bstop.lsn);
        ws.tli = bstart.tli;
        ws.first = bstart.lsn / sc.xlog_seg_size;
        ws.last = bstop.lsn / sc.xlog_seg_size;
    } else {
        ws.all_segments = 1;
    }
    wt = ws;
    wt.target_side = 1;
    ss_walk_opts wso = { .filter = wal_filter_fn, .ctx = &ws };
    ss_walk_opts wto = { .filter = wal_filter_fn, .ctx = &wt };
    /* WAL segments are compared block by block like any file. */
    if (sync_pass(&r, o->source_dir, o->target_dir, mode == SS_MODE_FULL ? SS_MODE_FULL : SS_MODE_DIFF,
                  &wso, &wto, err) < 0)
        goto out;

    if (!o->dry_run) {
        int fd = open(o->target_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            ss_seterr(err, SS_ETARGET, errno, "cannot open %s", o->target_dir);
            goto out;
        }
        uid_t uid = r.topts.owner == SS_OWNER_FIXED ? r.topts.fixed_uid : (uid_t)-1;
        gid_t gid = r.topts.fixed_gid;
        int wrc = 0;
        if (bstop.labelfile)
            wrc = ss_pg_write_file(fd, o->target_dir, "backup_label", bstop.labelfile,
                                   strlen(bstop.labelfile), uid, gid, err);
        if (wrc == 0 && bstop.spcmapfile) {
            /* PostgreSQL recreates the links from this file at startup: it
             * must name the target's locations, not the source's. */
            char *map = map_spcmap(o, bstop.spcmapfile);
            if (!map)
                wrc = ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
            else
                wrc = ss_pg_write_file(fd, o->target_dir, "tablespace_map", map, strlen(map),
                                       uid, gid, err);
            free(map);
        }
        if (wrc == 0 && o->write_recovery_conf) {
            if (!o->conninfo)
                note(o, "-R without --source-server: standby.signal written, no primary_conninfo");
            wrc = o->conninfo
                ? ss_pg_write_standby_conf(fd, o->target_dir, o->conninfo, o->slot, uid, gid, err)
                : ss_pg_write_file(fd, o->target_dir, "standby.signal", "", 0, uid, gid, err);
        }
        if (wrc == 0 && syncfs(fd) < 0)
            wrc = ss_seterr(err, SS_ETARGET, errno, "cannot flush target %s", o->target_dir);
        close(fd);
        if (wrc < 0)
            goto out;
        if (write_control_last(o, &r.topts, err) < 0)
            goto out;
        note(o, "global/pg_control written; %s is consistent", o->target_dir);
    }
    rc = 0;
out:
    ss_pg_backup_stop_free(&bstop);
    ss_pg_session_close(sess);  /* ends a bracket left open by a failure */
    return rc;
}
