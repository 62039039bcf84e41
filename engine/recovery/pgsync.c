#include "engine/recovery/pgsync.h"
#include "engine/recovery/pgcommon.h"
#include "engine/pathsafe.h"
#include "engine/pg/confport.h"
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

/* ---- tablespaces ------------------------------------------------------------ */


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
        const char *loc = sp ? ss_pg_map_location(o, sp + 1, mbuf, sizeof mbuf) : NULL;
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

/* ---- the recovery ----------------------------------------------------------- */

static int check_cluster(const ss_pg_recover_opts *o, ss_pgsrc *src, ss_pg_control *sc,
                         int *target_has_control, ss_err *err)
{
    long pid = 0;
    if (ss_pgsrc_read_control(src, sc, err) < 0)
        return -1;
    if (ss_pg_postmaster_running(o->target_dir, &pid))
        return ss_seterr(err, SS_EUSAGE, 0,
                         "target %s is running (postmaster.pid names live process %ld); stop it first",
                         o->target_dir, pid);
    int stopped = sc->state == SS_PG_DB_SHUTDOWNED || sc->state == SS_PG_DB_SHUTDOWNED_IN_RECOVERY;
    if (!o->conninfo && (!stopped || src->ops->postmaster_running(src, err) != 0))
        return ss_seterr(err, SS_EUSAGE, 0,
                         "source %s is running (state \"%s\"); give --source-server=CONNINFO so a backup can be taken",
                         src->name, ss_pg_dbstate_name(sc->state));
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
            ss_pg_note(o, "target %s holds no data directory; every file will be copied", o->target_dir);
        } else {
            ss_pg_note(o, "target %s has no usable pg_control (%s); continuing an interrupted run",
                 o->target_dir, terr.msg);
        }
    }
    return 0;
}


static int write_control_last(const ss_pg_recover_opts *o, ss_pgsrc *src, const ss_target_opts *to,
                              ss_err *err)
{
    ss_pg_control c;
    if (ss_pgsrc_read_control(src, &c, err) < 0)
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

/* The text of a small file, or NULL (missing, unreadable, or over 16 MiB). */
static char *read_text(const char *dir, const char *name)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/%s", dir, name) >= (int)sizeof p)
        return NULL;
    FILE *f = fopen(p, "re");
    if (!f)
        return NULL;
    char *buf = malloc(16 << 20);
    size_t n = buf ? fread(buf, 1, (16 << 20) - 1, f) : 0;
    int whole = buf && feof(f) && !ferror(f);
    fclose(f);
    if (!whole) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

static int recover(const ss_pg_recover_opts *o, ss_pgsrc *src, ss_counters *ctr, ss_err *err);

int ss_pg_recover(const ss_pg_recover_opts *o, ss_counters *ctr, ss_err *err)
{
    ss_pgsrc *src, *own;
    if (ss_pg_source_of(o, &src, &own, err) < 0)
        return -1;
    int rc = recover(o, src, ctr, err);
    ss_pgsrc_destroy(own);
    return rc;
}

static int recover(const ss_pg_recover_opts *o, ss_pgsrc *src, ss_counters *ctr, ss_err *err)
{
    ss_pg_control sc;
    int target_has_control = 0;
    if (check_cluster(o, src, &sc, &target_has_control, err) < 0)
        return -1;

    ss_pg_run r = { .o = o, .src = src, .ctr = ctr, .blcksz = sc.blcksz };
    if (ss_pg_target_owner(o, &r.topts) < 0)
        return ss_seterr(err, SS_EUSAGE, errno, "target %s: its parent directory is missing", o->target_dir);

    int greenplum = o->greenplum;
    if (greenplum < 0 && (greenplum = ss_pgsrc_exists(src, "internal.auto.conf", err)) < 0)
        return -1;
    ss_mode mode = o->full && !o->in_place ? SS_MODE_FULL : SS_MODE_DIFF;

    ss_pg_session *sess = NULL;
    ss_pg_backup_start bstart = {0};
    ss_pg_backup_stop bstop = {0};
    int live = o->conninfo != NULL;
    char *target_port = NULL;
    int rc = -1;

    if (live && !o->dry_run) {
        if (ss_pg_session_open(&sess, o->conninfo, err) < 0)
            return -1;
        if (o->slot) {
            int created = 0;
            if (ss_pg_ensure_slot(sess, o->slot, &created, err) < 0)
                goto out;
            ss_pg_note(o, "replication slot \"%s\" %s", o->slot, created ? "created" : "reused");
        }
        if (ss_pg_backup_begin(sess, o->label ? o->label : "segsync", o->fast_checkpoint, &bstart, err) < 0)
            goto out;
        ss_pg_note(o, "backup started at %X/%X on timeline %u", (unsigned)(bstart.lsn >> 32),
             (unsigned)bstart.lsn, bstart.tli);
    }

    /* From here on the target changes: make it unstartable until the end. */
    if (!o->dry_run) {
        if (access(o->target_dir, F_OK) < 0 && ss_pg_mkdir_p(o->target_dir, 0700,
                r.topts.owner == SS_OWNER_FIXED ? r.topts.fixed_uid : (uid_t)-1, r.topts.fixed_gid) < 0) {
            ss_seterr(err, SS_ETARGET, errno, "cannot create target %s", o->target_dir);
            goto out;
        }
        if (ss_pg_remove_target_control(o, err) < 0)
            goto out;
    }

    /* Greenplum: the mirror keeps its own port (postgresql.conf is otherwise
     * the primary's). */
    if (greenplum && !o->dry_run) {
        char *conf = read_text(o->target_dir, "postgresql.conf");
        target_port = conf ? ss_pg_conf_port(conf) : NULL;
        free(conf);
    }

    ss_pg_data_filter sf = { .ex = { .skip_wal = 1, .greenplum = greenplum } }, tf = sf;
    tf.target_side = 1;
    ss_walk_opts swo = { .filter = ss_pg_data_filter_fn, .finish = ss_pg_data_finish_fn, .ctx = &sf };
    ss_walk_opts two = { .filter = ss_pg_data_filter_fn, .finish = ss_pg_data_finish_fn, .ctx = &tf };
    ss_pg_note(o, "syncing %s -> %s (%s)", src->name, o->target_dir, mode == SS_MODE_FULL ? "full copy" : "changed blocks only");
    if (ss_pg_sync_pass(&r, "", o->target_dir, "", mode, &swo, &two, err) < 0)
        goto out;
    if (ss_pg_sync_tablespaces(&r, mode, &sf, err) < 0)
        goto out;

    wal_filter ws = { .seg_size = sc.xlog_seg_size }, wt;
    if (sess) {
        if (ss_pg_backup_end(sess, &bstop, err) < 0)
            goto out;
        ss_pg_note(o, "backup stopped at %X/%X", (unsigned)(bstop.lsn >> 32), (unsigned)bstop.lsn);
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
    if (ss_pg_sync_pass(&r, "", o->target_dir, "", mode == SS_MODE_FULL ? SS_MODE_FULL : SS_MODE_DIFF,
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
        if (wrc == 0 && target_port) {
            char *conf = read_text(o->target_dir, "postgresql.conf");
            char *fixed = conf ? ss_pg_conf_with_port(conf, target_port) : NULL;
            if (fixed) {
                wrc = ss_pg_write_file(fd, o->target_dir, "postgresql.conf", fixed, strlen(fixed),
                                       uid, gid, err);
                ss_pg_note(o, "postgresql.conf: kept the target's port %s", target_port);
            }
            free(conf);
            free(fixed);
        }
        if (wrc == 0 && o->write_recovery_conf) {
            if (!o->conninfo)
                ss_pg_note(o, "-R without --source-server: standby.signal written, no primary_conninfo");
            wrc = o->conninfo
                ? ss_pg_write_standby_conf(fd, o->target_dir, o->conninfo, o->slot, uid, gid, err)
                : ss_pg_write_file(fd, o->target_dir, "standby.signal", "", 0, uid, gid, err);
        }
        if (wrc == 0 && syncfs(fd) < 0)
            wrc = ss_seterr(err, SS_ETARGET, errno, "cannot flush target %s", o->target_dir);
        close(fd);
        if (wrc < 0)
            goto out;
        if (write_control_last(o, src, &r.topts, err) < 0)
            goto out;
        ss_pg_note(o, "global/pg_control written; %s is consistent", o->target_dir);
    }
    rc = 0;
out:
    free(target_port);
    ss_pg_backup_stop_free(&bstop);
    ss_pg_session_close(sess);  /* ends a bracket left open by a failure */
    return rc;
}
