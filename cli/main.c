/* main.c — segsync's entry point: parse, check, run the engine, report,
 * and turn the outcome into an exit status. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/options.h"
#include "cli/paths.h"
#include "cli/progress.h"
#include "cli/report.h"
#include "cli/serve.h"
#include "engine/agent.h"
#include "engine/recovery/pgrewind.h"
#include "engine/recovery/pgsource.h"
#include "engine/recovery/pgsync.h"
#include "engine/source.h"
#include "engine/source_remote.h"
#include "engine/pg/control.h"
#include "engine/presig.h"
#include "engine/sync.h"

#define SEGSYNC_VERSION "0.1.0"
/* Workers (so requests in flight) at least, when -j is not given: through
 * libpq every block run is a round trip; through the agent each request is
 * a 4 MiB chunk, and more workers than 4 on a small host only add threads
 * hashing the target at once (differential over ssh, 1 GiB, 12 runs each:
 * median 1.50 s with 8, 1.36 s with 4; full unchanged). */
#define LIBPQ_MIN_JOBS 8
#define AGENT_MIN_JOBS 4
/* Target signatures kept while connecting: 64 MiB covers 32 GiB of 8 KiB
 * blocks, far more than a login lasts. */
#define PRESIG_BUDGET (64u << 20)
#define REMOTE_DEFAULT_TIMEOUT_S 60

/* One line whatever the message holds: a path with a newline in it is
 * printed escaped, as in every other listing. */
static void print_error(const char *msg)
{
    fputs("segsync: error: ", stderr);
    cli_put_path(stderr, msg);
    fputc('\n', stderr);
}

/* Signals are taken by one thread with sigwait, so no handler touches
 * shared state; the engine polls `interrupted` between work items. */
typedef struct {
    sigset_t set;
    pthread_t tid;
    atomic_int interrupted;
    int running;
} signal_watch;

static void *signal_main(void *arg)
{
    signal_watch *sw = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(&sw->set, &sig) != 0 || sig == SIGUSR1)
            return NULL;
        atomic_store(&sw->interrupted, 1);
    }
}

static int is_interrupted(void *ctx) { return atomic_load(&((signal_watch *)ctx)->interrupted); }

static void signal_watch_start(signal_watch *sw)
{
    memset(sw, 0, sizeof *sw);
    sigemptyset(&sw->set);
    sigaddset(&sw->set, SIGINT);
    sigaddset(&sw->set, SIGTERM);
    sigaddset(&sw->set, SIGHUP);
    sigaddset(&sw->set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sw->set, NULL);
    signal(SIGPIPE, SIG_IGN);
    sw->running = pthread_create(&sw->tid, NULL, signal_main, sw) == 0;
}

static void signal_watch_stop(signal_watch *sw)
{
    if (!sw->running)
        return;
    pthread_kill(sw->tid, SIGUSR1);
    pthread_join(sw->tid, NULL);
}

typedef struct {
    cli_report *rep;
    ss_counters *ctr;
} skip_ctx;

static void on_skipped(void *ctx, const char *path, const char *why)
{
    skip_ctx *s = ctx;
    atomic_fetch_add(&s->ctr->entries_skipped, 1);
    cli_report_skipped(s->rep, path, why);
}

static const char *hint_for(const ss_err *e)
{
    if (e->sys_errno == ENOSPC)
        return "free space on the target's file system, then run the same command again";
    if (e->kind == SS_ECLUSTER || e->kind == SS_EUSAGE)
        return "nothing was changed; check SOURCE and TARGET (or use full to replace the target)";
    if (e->kind == SS_ECHANGED)
        return "the source is being modified; run the same command again (or stop the writer)";
    if (e->sys_errno == EACCES || e->sys_errno == EPERM)
        return "check permissions, or run as the owner of the data directory";
    return "fix the cause and run the same command again; it finishes what was started";
}

static void release_remote(void *view) { ss_source_remote_finish(view); }

static void on_note(void *ctx, const char *msg)
{
    const cli_options *o = ctx;
    if (o->verbose || o->progress || o->dry_run)
        fprintf(stderr, "segsync: %s\n", msg);
}

static void report_presig(const cli_options *o, ss_presig *pre)
{
    if (!pre || !o->verbose)
        return;
    size_t files;
    uint64_t bytes;
    ss_presig_stop(pre);
    ss_presig_stats(pre, &files, &bytes);
    fprintf(stderr, "segsync: hashed %zu target files (%.1f MiB) while connecting\n", files,
            (double)bytes / (1 << 20));
}

/* `segsync serve ROOT`: the agent on stdin/stdout. stdout carries the
 * protocol, so messages go to stderr, prefixed apart from the client's. */
static int run_serve(const cli_options *o)
{
    if (o->listen_host[0])
        return cli_serve_listen(o);
    signal(SIGPIPE, SIG_IGN);
    ss_agent_opts ao = { .compress = o->compress, .workers = o->jobs,
                         .idle_timeout_ms = o->timeout_s * 1000 };
    ss_err err = {0};
    if (ss_agent_serve(o->source, 0, 1, &ao, &err) < 0) {
        fprintf(stderr, "segsync serve: error: %s\n", err.msg);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

/* A remote source is checked by its agent; the target is checked here. */
static int check_remote_target(const char *target)
{
    struct stat st;
    if (stat(target, &st) == 0 && !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "segsync: error: target %s: exists and is not a directory\n", target);
        return -1;
    }
    return 0;
}

static int open_raw_source(const cli_options *o, ss_walk_opts *wo, ss_source **src, ss_err *err)
{
    if (!o->remote_host[0])
        return ss_source_local_open(src, o->source, wo, err);
    int tmo = (o->timeout_s ? o->timeout_s : REMOTE_DEFAULT_TIMEOUT_S) * 1000;
    if (o->remote_port[0]) {
        /* segsync://HOST:PORT/DIR: a listening agent, token authentication. */
        ss_auth_token tok;
        if (ss_auth_token_load(&tok, o->token_file, err) < 0)
            return -1;
        ss_remote_opts ro = { .compress = o->compress, .token = &tok, .idle_timeout_ms = tmo,
                              .max_rate = o->max_rate, .subdir = o->remote_dir };
        int rc = ss_source_remote_connect(src, o->remote_host, o->remote_port, tmo, &ro, err);
        ss_auth_token_clear(&tok);
        return rc;
    }
    ss_remote_spec rs = {
        .host = o->remote_host,
        .dir = o->remote_dir,
        .rsh = o->rsh,
        .remote_path = o->remote_path,
        .compress = o->compress,
        .idle_timeout_ms = tmo,
        .max_rate = o->max_rate,
    };
    return ss_source_remote_spawn(src, &rs, err);
}

/* PostgreSQL mode: where the source's files come from. NULL (*p) = the
 * local directory, which the recovery opens itself. */
static int open_pg_source(const cli_options *o, unsigned jobs, ss_pgsrc **p, ss_err *err)
{
    *p = NULL;
    if (o->via_libpq)
        return ss_pgsrc_libpq_open(p, o->source_server, jobs, err);
    if (!o->remote_host[0])
        return 0;
    ss_source *base;
    if (open_raw_source(o, NULL, &base, err) < 0)
        return -1;
    return ss_pgsrc_remote_open(p, base, err);
}

static int run(const cli_options *o)
{
    if (o->remote_host[0] || o->via_libpq ? check_remote_target(o->target) < 0
                                          : cli_check_paths(o->source, o->target) < 0)
        return EXIT_USAGE;

    ss_counters ctr;
    memset(&ctr, 0, sizeof ctr);
    cli_report rep;
    cli_report_init(&rep, o);
    skip_ctx sk = { &rep, &ctr };
    signal_watch sw;
    signal_watch_start(&sw);

    /* Which I/O engine really runs, for the summary. */
    const char *io_name = ss_io_kind_name(o->io);
    ss_io *probe;
    ss_err err = {0};
    if (ss_io_open(&probe, o->io, 4, &err) < 0) {
        print_error(err.msg);
        signal_watch_stop(&sw);
        cli_report_destroy(&rep);
        return EXIT_USAGE;
    }
    io_name = ss_io_kind_name(ss_io_backend(probe));
    ss_io_close(probe);

    ss_sync_opts so = {
        .mode = o->cmd == CMD_FULL ? SS_MODE_FULL : o->cmd == CMD_VERIFY ? SS_MODE_VERIFY : SS_MODE_DIFF,
        .jobs = o->jobs,
        .block_size = o->block_size,
        .io = o->io,
        .dry_run = o->dry_run,
        .mtime = 1,
        .event = cli_report_event,
        .event_ctx = &rep,
        .cancelled = is_interrupted,
        .cancel_ctx = &sw,
    };
    so.target.owner = geteuid() == 0 ? SS_OWNER_SOURCE : SS_OWNER_KEEP;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned jobs = o->jobs ? o->jobs : (ncpu > 0 ? (unsigned)ncpu : 1);
    /* Through the agent each worker waits on its own request: keep enough
     * of them in flight to cover the round trip. */
    int remote = o->remote_host[0] || o->via_libpq;
    unsigned min_jobs = o->via_libpq ? LIBPQ_MIN_JOBS : AGENT_MIN_JOBS;
    if (!o->jobs && remote && jobs < min_jobs)
        jobs = min_jobs;
    so.jobs = o->jobs || remote ? jobs : 0;

    double t0 = cli_now();
    cli_progress prog;
    int have_prog = o->progress && cli_progress_start(&prog, &ctr, o->cmd_name) == 0;

    int rc;
    unsigned long long wire = 0;
    ss_pg_rewind_result rres;
    memset(&rres, 0, sizeof rres);
    if (o->raw) {
        ss_source *src = NULL;
        ss_walk_opts wo = { .skipped = on_skipped, .ctx = &sk };
        /* While ssh logs in and the agent starts, hash the target: that
         * half of the comparison does not need the source (presig.h). */
        ss_presig *pre = NULL;
        if (o->remote_host[0] && o->cmd != CMD_FULL) {
            ss_err perr;
            if (ss_presig_start(&pre, o->target, o->block_size ? o->block_size : 8192,
                                PRESIG_BUDGET, &perr) < 0)
                pre = NULL;
            so.presig = pre;
        }
        rc = open_raw_source(o, &wo, &src, &err);
        /* Through the agent the listing is filtered here: a view reports
         * what it leaves out (sockets, fifos) as a local walk does. */
        ss_source *view = NULL;
        if (rc == 0 && o->remote_host[0])
            rc = ss_source_remote_subtree(src, "", &wo, 0, &view, &err);
        if (rc == 0) {
            ss_source *use = view ? view : src;
            /* The agent, sshd and ssh wind down while the target is
             * synced to disk, instead of after. */
            if (view) {
                so.source_done = release_remote;
                so.source_done_ctx = view;
            }
            rc = ss_sync(use, o->target, &so, &ctr, &err);
            wire = use->ops->wire_bytes(use);
        }
        if (view)
            view->ops->destroy(view);
        if (src)
            src->ops->destroy(src);
        report_presig(o, pre);
        ss_presig_free(pre);
    } else {
        ss_pgsrc *psrc = NULL;
        /* A compared recovery from another host hashes the mirror while the
         * source is reached and the backup starts (its checkpoint alone
         * takes a while); in the mirror's own block size. */
        ss_presig *pre = NULL;
        ss_pg_control tc;
        ss_err perr;
        int compared = o->cmd == CMD_DIFFERENTIAL || (o->cmd == CMD_FULL && o->in_place);
        if ((o->remote_host[0] || o->via_libpq) && compared &&
            ss_pg_control_read(o->target, &tc, &perr) == 0 &&
            ss_presig_start(&pre, o->target, tc.blcksz, PRESIG_BUDGET, &perr) < 0)
            pre = NULL;
        rc = open_pg_source(o, jobs, &psrc, &err);
        ss_pg_recover_opts po = {
            .full = o->cmd == CMD_FULL,
            .in_place = o->in_place,
            .source_dir = o->source,
            .source = psrc,
            .target_dir = o->target,
            .conninfo = o->source_server,
            .slot = o->slot,
            .write_recovery_conf = o->write_recovery_conf,
            .fast_checkpoint = o->fast_checkpoint,
            .maps = o->maps,
            .nmaps = o->nmaps,
            .target_dbid = o->target_dbid,
            .greenplum = o->greenplum,
            .label = "segsync",
            .jobs = so.jobs,
            .io = o->io,
            .dry_run = o->dry_run,
            .event = cli_report_event,
            .event_ctx = &rep,
            .cancelled = is_interrupted,
            .cancel_ctx = &sw,
            .note = on_note,
            .note_ctx = (void *)o,
            .presig = pre,
        };
        if (rc < 0) {
            /* the source could not be reached: nothing was touched */
        } else if (o->cmd == CMD_INCREMENTAL) {
            ss_pg_rewind_opts ro = { .base = po, .fallback_differential = o->fallback_differential };
            rc = ss_pg_rewind(&ro, &rres, &ctr, &err);
        } else {
            rc = ss_pg_recover(&po, &ctr, &err);
        }
        if (psrc)
            wire = psrc->ops->wire_bytes(psrc);
        ss_pgsrc_destroy(psrc);
        report_presig(o, pre);
        ss_presig_free(pre);
    }
    if (have_prog)
        cli_progress_stop(&prog);
    double elapsed = cli_now() - t0;
    int intr = is_interrupted(&sw);
    signal_watch_stop(&sw);

    int code;
    const char *status;
    if (rc < 0 && intr) {
        code = EXIT_INTERRUPTED;
        status = "interrupted";
        fprintf(stderr, "segsync: error: interrupted; the target is incomplete\n"
                        "segsync: hint: run the same command again to finish\n");
    } else if (rc < 0) {
        /* A refusal before anything was touched is a usage error: the
         * target is as it was. */
        code = err.kind == SS_EUSAGE || err.kind == SS_ECLUSTER ? EXIT_USAGE : EXIT_FAILED;
        status = "error";
        print_error(err.msg);
        fprintf(stderr, "segsync: hint: %s\n", rres.wal_problem
                ? "the target's WAL cannot tell what changed; run again with "
                  "--fallback=differential to do a differential recovery instead"
                : hint_for(&err));
    } else if (rc == 1) {
        code = EXIT_DIFFERS;
        status = "differs";
    } else {
        code = EXIT_OK;
        status = "ok";
    }
    if (rc >= 0 && rres.outcome == SS_REWIND_NOT_NEEDED)
        fprintf(stderr, "segsync: no rewind required: the target has not diverged from the source\n");
    if (rc >= 0 && rres.outcome == SS_REWIND_FELL_BACK)
        fprintf(stderr, "segsync: incremental recovery could not proceed: %s\n"
                        "segsync: a differential recovery was done instead (--fallback=differential)\n",
                rres.why);
    if (o->json) {
        cli_summary_extra x = { status, rc < 0 ? err.msg : NULL, io_name, jobs, elapsed, wire,
                                NULL, NULL };
        if (o->cmd == CMD_INCREMENTAL && rc >= 0) {
            x.outcome = rres.outcome == SS_REWIND_FELL_BACK ? "fell_back"
                      : rres.outcome == SS_REWIND_NOT_NEEDED ? "no_rewind_required" : "rewound";
            if (rres.outcome == SS_REWIND_FELL_BACK)
                x.reason = rres.why;
        }
        cli_print_json(stdout, o, &ctr, &x, rep.differences);
    } else if (rc >= 0 && (o->verbose || o->progress) && o->cmd != CMD_VERIFY) {
        char t[32], w[32];
        cli_human_bytes(t, sizeof t, (double)atomic_load(&ctr.bytes_transferred));
        cli_human_bytes(w, sizeof w, (double)atomic_load(&ctr.bytes_total));
        fprintf(stderr, "segsync: %s%s done in %.2fs: %s of %s transferred; %llu files copied, "
                "%llu updated, %llu deleted, %llu blocks changed\n",
                o->cmd_name, o->dry_run ? " (dry run)" : "", elapsed, t, w,
                (unsigned long long)atomic_load(&ctr.files_copied),
                (unsigned long long)atomic_load(&ctr.files_updated),
                (unsigned long long)atomic_load(&ctr.files_deleted),
                (unsigned long long)atomic_load(&ctr.blocks_changed));
    }
    if (o->cmd == CMD_VERIFY && !o->json)
        fprintf(stderr, "segsync: verify: %s (%lu difference%s)\n",
                rc == 0 ? "identical" : rc == 1 ? "trees differ" : "failed", rep.differences,
                rep.differences == 1 ? "" : "s");
    cli_report_destroy(&rep);
    return code;
}

int main(int argc, char **argv)
{
    cli_options o;
    if (cli_parse(argc, argv, &o) < 0)
        return EXIT_USAGE;
    if (o.help) {
        cli_usage(stdout);
        return EXIT_OK;
    }
    if (o.version) {
        printf("segsync %s\n", SEGSYNC_VERSION);
        return EXIT_OK;
    }
    if (o.cmd == CMD_SERVE)
        return run_serve(&o);
    if (o.cmd == CMD_VERIFY && !o.raw) {
        fprintf(stderr, "segsync: error: verify compares plain trees; give --raw\n");
        return EXIT_USAGE;
    }
    return run(&o);
}
