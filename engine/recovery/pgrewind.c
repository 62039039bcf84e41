/* pgrewind.c — incremental recovery, top to bottom (see pgrewind.h). */
#include "engine/recovery/pgrewind.h"
#include "engine/pg/control.h"
#include "engine/pg/recoveryconf.h"
#include "engine/pg/session.h"
#include "engine/pg/walreader.h"
#include "engine/pg/walsource.h"
#include "engine/recovery/pgcommon.h"
#include "engine/recovery/rewind.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const ss_pg_rewind_opts *o;
    ss_pgsrc *src;
    ss_pg_rewind_result *res;
    ss_pg_control sc, tc;
    ss_pg_session *sess;
    ss_wal_tli_range *shist, *thist;
    size_t ns, nt, common;
    ss_lsn divergence, target_end;
    ss_lsn chkpt, redo;
    uint32_t chkpt_tli;
    ss_rewind_map *map;
} rewind_state;

/* A reason of the WAL: fallback-able, exit 3 without the fallback. */
static int wal_problem(rewind_state *s, ss_err *err)
{
    s->res->wal_problem = 1;
    snprintf(s->res->why, sizeof s->res->why, "%s", err->msg);
    err->kind = SS_ETARGET;
    return -1;
}

static int check_preconditions(rewind_state *s, ss_err *err)
{
    const ss_pg_recover_opts *b = &s->o->base;
    long pid = 0;
    if (ss_pg_postmaster_running(b->target_dir, &pid))
        return ss_seterr(err, SS_EUSAGE, 0,
                         "target %s is running (postmaster.pid names live process %ld); stop it cleanly first",
                         b->target_dir, pid);
    if (b->conninfo) {
        /* The control file on disk shows the new timeline only after a
         * checkpoint following the promotion. */
        if (ss_pg_session_open(&s->sess, b->conninfo, err) < 0)
            return -1;
        if (ss_pg_checkpoint(s->sess, err) < 0)
            return -1;
        ss_pg_note(b, "CHECKPOINT on the source done");
        if (b->slot && !b->dry_run) {
            int created = 0;
            if (ss_pg_ensure_slot(s->sess, b->slot, &created, err) < 0)
                return -1;
            ss_pg_note(b, "replication slot \"%s\" %s", b->slot, created ? "created" : "reused");
        }
    }
    if (ss_pgsrc_read_control(s->src, &s->sc, err) < 0)
        return -1;
    int sstopped = s->sc.state == SS_PG_DB_SHUTDOWNED || s->sc.state == SS_PG_DB_SHUTDOWNED_IN_RECOVERY;
    if (!b->conninfo && (!sstopped || s->src->ops->postmaster_running(s->src, err) != 0))
        return ss_seterr(err, SS_EUSAGE, 0,
                         "source %s is running (state \"%s\"); give --source-server=CONNINFO",
                         s->src->name, ss_pg_dbstate_name(s->sc.state));
    if (ss_pg_control_read(b->target_dir, &s->tc, err) < 0) {
        /* An interrupted run removed it: the WAL analysis cannot be done
         * again; a differential recovery can finish the job. */
        ss_err_prefix(err, "target has no usable pg_control (an interrupted run?): ");
        return wal_problem(s, err);
    }
    if (ss_pg_control_same_cluster(&s->sc, &s->tc, "source", "target", err) < 0)
        return -1;
    if (s->tc.state != SS_PG_DB_SHUTDOWNED && s->tc.state != SS_PG_DB_SHUTDOWNED_IN_RECOVERY)
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "target %s was not shut down cleanly (state \"%s\"); start it and stop it "
                         "with pg_ctl stop -m fast, or use differential",
                         b->target_dir, ss_pg_dbstate_name(s->tc.state));
    if (!s->tc.wal_log_hints && s->tc.data_checksum_version == 0)
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "target %s needs wal_log_hints = on or data checksums: without them its WAL "
                         "does not name every page it changed; use differential",
                         b->target_dir);
    if (!s->sc.full_page_writes)
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "source %s runs with full_page_writes = off (its last checkpoint says so); "
                         "turn it on and CHECKPOINT, or use differential",
                         s->src->name);
    return 0;
}

/* 1: rewind needed (histories, divergence and target end set); 0: not. */
static int find_divergence(rewind_state *s, ss_wal_reader **rd, ss_err *err)
{
    const ss_pg_recover_opts *b = &s->o->base;
    if (s->sc.checkpoint_tli == s->tc.checkpoint_tli) {
        ss_pg_note(b, "source and target are on the same timeline (%u)", s->sc.checkpoint_tli);
        return 0;
    }
    if (ss_pgsrc_read_history(s->src, s->sc.checkpoint_tli, &s->shist, &s->ns, err) < 0 ||
        ss_rewind_read_history(b->target_dir, s->tc.checkpoint_tli, &s->thist, &s->nt, err) < 0)
        return wal_problem(s, err);
    if (ss_rewind_divergence(s->shist, s->ns, s->thist, s->nt, &s->divergence, &s->common, err) < 0)
        return -1;  /* a refusal: no common history at all */
    ss_pg_note(b, "servers diverged at WAL location " SS_LSN_FMT " on timeline %u",
               SS_LSN_ARGS(s->divergence), s->shist[s->common].tli);

    char wal[PATH_MAX];
    snprintf(wal, sizeof wal, "%s/pg_wal", b->target_dir);
    ss_wal_source src;
    if (ss_wal_source_dir(wal, s->tc.xlog_seg_size, &src, err) < 0)
        return wal_problem(s, err);
    ss_wal_reader_config cfg = {
        .seg_size = s->tc.xlog_seg_size,
        .page_size = s->tc.xlog_blcksz,
        .block_size = s->tc.blcksz,
        .sysid = s->tc.system_identifier,
        .history = s->thist,
        .nhistory = s->nt,
    };
    if (ss_wal_reader_open(&cfg, src, rd, err) < 0)
        return wal_problem(s, err);

    /* The end of the target's WAL: its shutdown checkpoint record's end, or
     * its minimum recovery point if it was a standby beyond that. */
    ss_wal_record rec;
    if (ss_wal_read_at(*rd, s->tc.checkpoint, &rec, err) < 0) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err->msg);
        ss_seterr(err, SS_ECLUSTER, 0, "cannot read the target's last checkpoint record at " SS_LSN_FMT ": %s",
                  SS_LSN_ARGS(s->tc.checkpoint), m);
        return wal_problem(s, err);
    }
    s->target_end = rec.end_lsn;
    if (s->tc.min_recovery_point > s->target_end)
        s->target_end = s->tc.min_recovery_point;
    if (s->target_end <= s->divergence) {
        ss_pg_note(b, "the target's WAL ends at " SS_LSN_FMT ", not after the divergence: "
                   "it is an ancestor of the source", SS_LSN_ARGS(s->target_end));
        return 0;
    }
    return 1;
}

static int build_map(rewind_state *s, ss_wal_reader *rd, ss_err *err)
{
    const ss_pg_recover_opts *b = &s->o->base;
    if (ss_rewind_last_checkpoint(rd, s->divergence, s->tc.xlog_blcksz, s->tc.xlog_seg_size,
                                  &s->chkpt, &s->redo, &s->chkpt_tli, err) < 0)
        return wal_problem(s, err);
    ss_pg_note(b, "rewinding from last common checkpoint at " SS_LSN_FMT " on timeline %u (redo " SS_LSN_FMT ")",
               SS_LSN_ARGS(s->chkpt), s->chkpt_tli, SS_LSN_ARGS(s->redo));
    s->map = ss_rewind_map_new(s->tc.relseg_size);
    if (!s->map)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "block map");
    ss_wal_seek(rd, s->chkpt);
    ss_lsn at = s->chkpt;
    uint64_t nrec = 0;
    for (;;) {
        ss_wal_record rec;
        int rc = ss_wal_read_next(rd, &rec, err);
        if (rc < 0) {
            char m[sizeof err->msg];
            snprintf(m, sizeof m, "%s", err->msg);
            ss_seterr(err, SS_ECLUSTER, 0, "reading the target's WAL after " SS_LSN_FMT ": %s",
                      SS_LSN_ARGS(at), m);
            return wal_problem(s, err);
        }
        if (rc == 0) {
            char m[sizeof err->msg];
            snprintf(m, sizeof m, "%s", err->msg);
            ss_seterr(err, SS_ECLUSTER, 0,
                      "the target's WAL from " SS_LSN_FMT " to " SS_LSN_FMT " is incomplete: %s",
                      SS_LSN_ARGS(s->chkpt), SS_LSN_ARGS(s->target_end), m);
            return wal_problem(s, err);
        }
        nrec++;
        if (ss_rewind_map_record(s->map, &rec, err) < 0)
            return err->kind == SS_EINTERNAL ? -1 : wal_problem(s, err);
        at = rec.end_lsn;
        if (rec.end_lsn >= s->target_end)
            break;
    }
    if (ss_rewind_map_finish(s->map, err) < 0)
        return -1;
    size_t files, rels, dbs;
    uint64_t blocks;
    ss_rewind_map_stats(s->map, &files, &blocks, &rels, &dbs);
    s->res->map_files = files;
    s->res->map_blocks = blocks;
    ss_pg_note(b, "target WAL " SS_LSN_FMT " .. " SS_LSN_FMT ": %llu records; %llu blocks in %zu relation files; "
               "%zu relations and %zu databases compared whole",
               SS_LSN_ARGS(s->chkpt), SS_LSN_ARGS(at), (unsigned long long)nrec,
               (unsigned long long)blocks, files, rels, dbs);
    return 0;
}

static int write_standby(const ss_pg_recover_opts *b, int fd, uid_t uid, gid_t gid, ss_err *err)
{
    if (!b->write_recovery_conf)
        return 0;
    if (!b->conninfo)
        ss_pg_note(b, "-R without --source-server: standby.signal written, no primary_conninfo");
    return b->conninfo ? ss_pg_write_standby_conf(fd, b->target_dir, b->conninfo, b->slot, uid, gid, err)
                       : ss_pg_write_file(fd, b->target_dir, "standby.signal", "", 0, uid, gid, err);
}

/* How far the target must replay, read after the data was copied (as
 * pg_rewind): a running primary's WAL insert position, a standby's
 * minimum recovery point, a stopped source's last checkpoint. `after` is
 * the source's control file as of now. */
static int source_end(rewind_state *s, ss_pg_control *after, ss_lsn *endrec, uint32_t *endtli,
                      ss_err *err)
{
    if (ss_pgsrc_read_control(s->src, after, err) < 0)
        return -1;
    if (!s->sess) {
        *endrec = after->checkpoint;
        *endtli = after->checkpoint_tli;
    } else if (after->state == SS_PG_DB_IN_ARCHIVE_RECOVERY) {
        *endrec = after->min_recovery_point;
        *endtli = after->min_recovery_point_tli;
    } else if (after->state == SS_PG_DB_IN_PRODUCTION) {
        if (ss_pg_current_lsn(s->sess, endrec, err) < 0)
            return -1;
        *endtli = after->checkpoint_tli > after->min_recovery_point_tli ? after->checkpoint_tli
                                                                       : after->min_recovery_point_tli;
    } else {
        return ss_seterr(err, SS_ESOURCE, 0, "source is in an unexpected state at the end of the rewind: %s",
                         ss_pg_dbstate_name(after->state));
    }
    return 0;
}

/* The WAL pass: regular files directly in pg_wal. Of the source's
 * segments only those that replay reads are listed: from the segment of
 * the common checkpoint's redo to the one holding the end of the WAL to
 * replay, each on the timeline recovery takes it from (the newest one of
 * the source's history that begins before the segment's end, so the old
 * timeline's copy of the switch segment is not needed). The rest are older
 * segments, recycled or preallocated files, or other timelines' copies:
 * left out, and removed from the target like every file the source pass
 * does not list. History files and anything else in pg_wal: compared. */
typedef struct {
    uint64_t min_segno, max_segno;
    uint32_t seg_size;
    const ss_wal_tli_range *hist;
    size_t nhist;
    int target_side;
} wal_pass;

static uint32_t replay_tli(const wal_pass *w, uint64_t segno)
{
    ss_lsn seg_end = (segno + 1) * w->seg_size;
    uint32_t tli = w->hist[0].tli;
    for (size_t i = 0; i < w->nhist; i++)
        if (w->hist[i].begin < seg_end)
            tli = w->hist[i].tli;
    return tli;
}

static int wal_pass_filter(void *ctx, const char *path, const struct stat *st)
{
    const wal_pass *w = ctx;
    if (!strcmp(path, "pg_wal"))
        return 1;
    if (strncmp(path, "pg_wal/", 7) != 0 || strchr(path + 7, '/') || !S_ISREG(st->st_mode))
        return 0;
    const char *name = path + 7;
    if (w->target_side || strlen(name) != 24 || strspn(name, "0123456789ABCDEF") != 24)
        return 1;
    char part[9] = {0};
    memcpy(part, name, 8);
    uint32_t tli = (uint32_t)strtoul(part, NULL, 16);
    memcpy(part, name + 8, 8);
    uint64_t log = strtoull(part, NULL, 16);
    memcpy(part, name + 16, 8);
    uint64_t segno = log * (0x100000000ull / w->seg_size) + strtoull(part, NULL, 16);
    return segno >= w->min_segno && segno <= w->max_segno && tli == replay_tli(w, segno);
}

static int finish_target(rewind_state *s, const ss_target_opts *to, ss_pg_control *after_in,
                         ss_lsn endrec, uint32_t endtli, ss_err *err)
{
    const ss_pg_recover_opts *b = &s->o->base;
    uid_t uid = to->owner == SS_OWNER_FIXED ? to->fixed_uid : (uid_t)-1;
    gid_t gid = to->fixed_gid;

    char seg[25], stime[64], label[1024];
    ss_wal_segment_name(seg, s->chkpt_tli, s->redo / s->tc.xlog_seg_size, s->tc.xlog_seg_size);
    time_t now = time(NULL);
    struct tm tmv;
    strftime(stime, sizeof stime, "%Y-%m-%d %H:%M:%S %Z", localtime_r(&now, &tmv));
    snprintf(label, sizeof label,
             "START WAL LOCATION: %X/%X (file %s)\n"
             "CHECKPOINT LOCATION: %X/%X\n"
             "BACKUP METHOD: pg_rewind\n"
             "BACKUP FROM: standby\n"
             "START TIME: %s\n"
             "START TIMELINE: %u\n",
             (unsigned)(s->redo >> 32), (unsigned)s->redo, seg,
             (unsigned)(s->chkpt >> 32), (unsigned)s->chkpt, stime, s->chkpt_tli);

    int fd = open(b->target_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ss_seterr(err, SS_ETARGET, errno, "cannot open %s", b->target_dir);
    int rc = ss_pg_write_file(fd, b->target_dir, "backup_label", label, strlen(label), uid, gid, err);
    if (rc == 0)
        rc = write_standby(b, fd, uid, gid, err);
    if (rc == 0 && syncfs(fd) < 0)
        rc = ss_seterr(err, SS_ETARGET, errno, "cannot flush target %s", b->target_dir);
    ss_pg_control after = *after_in;
    if (rc == 0) {
        ss_pg_control_update u = {
            .state = SS_PG_DB_IN_ARCHIVE_RECOVERY,
            .min_recovery_point = endrec,
            .min_recovery_point_tli = endtli,
            .backup_start_point = after.backup_start_point,
            .backup_end_point = after.backup_end_point,
            .backup_end_required = after.backup_end_required,
        };
        ss_pg_control_set(&after, &u);
        rc = ss_pg_write_file(fd, b->target_dir, SS_PG_CONTROL_PATH, after.raw, sizeof after.raw,
                              uid, gid, err);
    }
    close(fd);
    if (rc == 0)
        ss_pg_note(b, "backup_label at checkpoint " SS_LSN_FMT "; global/pg_control written "
                   "(archive recovery, minimum recovery point " SS_LSN_FMT " on timeline %u)",
                   SS_LSN_ARGS(s->chkpt), SS_LSN_ARGS(endrec), endtli);
    return rc;
}

static int sync_target(rewind_state *s, ss_counters *ctr, ss_err *err)
{
    const ss_pg_recover_opts *b = &s->o->base;
    ss_pg_run r = { .o = b, .src = s->src, .ctr = ctr, .blcksz = s->sc.blcksz,
                    .known_blocks = ss_rewind_map_known, .known_ctx = s->map };
    if (ss_pg_target_owner(b, &r.topts) < 0)
        return ss_seterr(err, SS_EUSAGE, errno, "target %s: cannot stat it", b->target_dir);
    int greenplum = b->greenplum;
    if (greenplum < 0 && (greenplum = ss_pgsrc_exists(s->src, "internal.auto.conf", err)) < 0)
        return -1;

    if (!b->dry_run && ss_pg_remove_target_control(b, err) < 0)
        return -1;
    ss_pg_data_filter sf = { .ex = { .skip_wal = 1, .greenplum = greenplum } }, tf = sf;
    tf.target_side = 1;
    ss_walk_opts swo = { .filter = ss_pg_data_filter_fn, .finish = ss_pg_data_finish_fn, .ctx = &sf };
    ss_walk_opts two = { .filter = ss_pg_data_filter_fn, .finish = ss_pg_data_finish_fn, .ctx = &tf };
    ss_pg_note(b, "syncing %s -> %s (WAL-touched blocks of relation files; other files compared block by block)",
               s->src->name, b->target_dir);
    if (ss_pg_sync_pass(&r, "", b->target_dir, "", SS_MODE_DIFF, &swo, &two, err) < 0)
        return -1;
    if (ss_pg_sync_tablespaces(&r, SS_MODE_DIFF, &sf, err) < 0)
        return -1;

    ss_pg_control after;
    ss_lsn endrec = 0;
    uint32_t endtli = 0;
    if (source_end(s, &after, &endrec, &endtli, err) < 0)
        return -1;
    wal_pass ws = { .min_segno = s->redo / s->sc.xlog_seg_size,
                    .max_segno = endrec / s->sc.xlog_seg_size,
                    .seg_size = s->sc.xlog_seg_size,
                    .hist = s->shist, .nhist = s->ns }, wt = ws;
    wt.target_side = 1;
    ss_walk_opts wso = { .filter = wal_pass_filter, .ctx = &ws };
    ss_walk_opts wto = { .filter = wal_pass_filter, .ctx = &wt };
    ss_pg_note(b, "syncing pg_wal: segments %llu to %llu (WAL to replay " SS_LSN_FMT " .. " SS_LSN_FMT ")",
               (unsigned long long)ws.min_segno, (unsigned long long)ws.max_segno,
               SS_LSN_ARGS(s->redo), SS_LSN_ARGS(endrec));
    if (ss_pg_sync_pass(&r, "", b->target_dir, "", SS_MODE_DIFF, &wso, &wto, err) < 0)
        return -1;
    if (b->dry_run)
        return 0;
    return finish_target(s, &r.topts, &after, endrec, endtli, err);
}

static void state_free(rewind_state *s)
{
    free(s->shist);
    free(s->thist);
    ss_rewind_map_free(s->map);
    ss_pg_session_close(s->sess);
}

int ss_pg_rewind(const ss_pg_rewind_opts *o, ss_pg_rewind_result *res, ss_counters *ctr,
                 ss_err *err)
{
    memset(res, 0, sizeof *res);
    ss_pgsrc *own = NULL;
    rewind_state s = { .o = o, .res = res };
    if (ss_pg_source_of(&o->base, &s.src, &own, err) < 0)
        return -1;
    ss_wal_reader *rd = NULL;
    int rc = check_preconditions(&s, err);
    int need = 0;
    if (rc == 0) {
        need = find_divergence(&s, &rd, err);
        rc = need < 0 ? -1 : 0;
    }
    if (rc == 0 && need)
        rc = build_map(&s, rd, err);
    ss_wal_reader_free(rd);

    if (rc < 0 && res->wal_problem && o->fallback_differential) {
        ss_pg_note(&o->base, "incremental recovery cannot proceed: %s", res->why);
        ss_pg_note(&o->base, "falling back to differential recovery (--fallback=differential)");
        state_free(&s);
        res->outcome = SS_REWIND_FELL_BACK;
        ss_pg_recover_opts d = o->base;
        d.full = 0;
        d.in_place = 0;
        d.source = s.src;
        memset(err, 0, sizeof *err);
        rc = ss_pg_recover(&d, ctr, err);
        ss_pgsrc_destroy(own);
        return rc;
    }
    if (rc == 0 && !need) {
        res->outcome = SS_REWIND_NOT_NEEDED;
        ss_pg_note(&o->base, "no rewind required");
        if (o->base.write_recovery_conf && !o->base.dry_run) {
            ss_target_opts to;
            ss_pg_target_owner(&o->base, &to);
            int fd = open(o->base.target_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0)
                rc = ss_seterr(err, SS_ETARGET, errno, "cannot open %s", o->base.target_dir);
            else {
                rc = write_standby(&o->base, fd,
                                   to.owner == SS_OWNER_FIXED ? to.fixed_uid : (uid_t)-1,
                                   to.fixed_gid, err);
                close(fd);
            }
        }
    } else if (rc == 0) {
        rc = sync_target(&s, ctr, err);
    }
    state_free(&s);
    ss_pgsrc_destroy(own);
    return rc;
}
