/*
 * sync.h — make a target tree equal to a source: the generic engine.
 *
 * Walk both sides, decide per path (plan.h), then: removals and directories
 * and symlinks in order on the calling thread; regular files split into
 * chunks and processed by a pool of worker threads that read source and
 * target at once, compare block signatures and write only what differs;
 * directory attributes last; everything made durable before returning.
 *
 * The engine never prints: what it does is reported through `event`, and
 * progress is readable at any time from the caller-owned ss_counters.
 */
#ifndef SEGSYNC_SYNC_H
#define SEGSYNC_SYNC_H

#include <stdatomic.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/io.h"
#include "engine/plan.h"
#include "engine/source.h"
#include "engine/target.h"

typedef enum {
    SS_MODE_FULL = 0,   /* copy every file; never read the target's contents */
    SS_MODE_DIFF,       /* hash both sides; write only differing blocks */
    SS_MODE_VERIFY      /* hash both sides; report differences; write nothing */
} ss_mode;

typedef enum {
    SS_PHASE_LIST = 0, SS_PHASE_PREPARE, SS_PHASE_DATA, SS_PHASE_FINISH, SS_PHASE_SYNC,
    SS_PHASE_DONE
} ss_phase;

/* Progress, updated by the engine, read by anyone at any time. */
typedef struct {
    _Atomic uint64_t bytes_total;       /* bytes of regular files to process */
    _Atomic uint64_t bytes_done;        /* of those, read and compared/copied */
    _Atomic uint64_t bytes_transferred; /* file payload sent to the target */
    _Atomic uint64_t bytes_written;     /* bytes written into target files */
    _Atomic uint64_t blocks_changed;    /* differing blocks of updated files */
    _Atomic uint64_t files_total;       /* regular files in the source */
    _Atomic uint64_t files_copied;      /* created or replaced whole */
    _Atomic uint64_t files_updated;     /* changed in place */
    _Atomic uint64_t files_deleted;     /* target entries removed */
    _Atomic uint64_t dirs_created;
    _Atomic uint64_t links_created;
    _Atomic uint64_t entries_skipped;   /* special files left out */
    _Atomic uint32_t block_size;        /* comparison unit of the last pass
                                         * (a cluster's BLCKSZ in PG mode) */
    _Atomic int phase;
} ss_counters;

typedef enum {
    SS_EV_ACTION = 0,   /* a plan item was carried out (or would be, dry-run) */
    SS_EV_SKIPPED,      /* a source entry left out (detail says why) */
    SS_EV_DIFFERS       /* verify: a path that differs (detail says how) */
} ss_event_kind;

typedef struct {
    ss_event_kind kind;
    ss_act act;
    const char *path;
    const char *detail;
    uint64_t bytes;     /* payload bytes for this file */
    uint64_t blocks;    /* differing blocks for UPDATE */
} ss_event;

typedef struct {
    ss_mode mode;
    unsigned jobs;              /* worker threads; 0 = number of cores */
    uint32_t block_size;        /* bytes; power of two not required */
    size_t chunk_size;          /* bytes per work item; 0 = default */
    ss_io_kind io;
    int dry_run;                /* decide and report, write nothing */
    int mtime;                  /* keep mtimes (raw mode) */
    ss_target_opts target;
    /* Filters the target's listing: what it leaves out is neither compared
     * nor deleted (a pass over one part of the tree, PostgreSQL's excluded
     * files). NULL lists everything. */
    const ss_walk_opts *target_walk;
    /* Incremental recovery: for a file present on both sides, the blocks
     * known to differ (from the WAL). Return 1 with a sorted, duplicate-free
     * list (valid until ss_sync returns; NULL/0 for "none"): only those
     * blocks and any growth past the target's old end are sent, without
     * reading the target; a shrink is a truncation. Return 0 to compare
     * every block. NULL: compare everything. */
    int (*known_blocks)(void *ctx, const char *path, const uint32_t **blocks, size_t *n);
    void *known_ctx;
    /* The target's signatures hashed ahead (presig.h), or NULL: stopped
     * when the data phase begins, then used for every compared chunk of
     * a file it has (unchanged). Owned by the caller. */
    struct ss_presig *presig;
    /* Called from any thread; the callee serializes if it must. */
    void (*event)(void *ctx, const ss_event *ev);
    void *event_ctx;
    /* Checked between work items; when it returns nonzero the run stops
     * with an error (SIGINT handling in the CLI). May be NULL. */
    int (*cancelled)(void *ctx);
    void *cancel_ctx;
    /* Called once the data phase is over and the source will be asked
     * nothing more by this run, before the target is made durable: a
     * remote source can be released while the syncfs runs. May be NULL. */
    void (*source_done)(void *ctx);
    void *source_done_ctx;
} ss_sync_opts;

/* Returns 0 on success, 1 when mode is VERIFY and the trees differ, -1 on
 * error (err filled). */
int ss_sync(ss_source *src, const char *target_root, const ss_sync_opts *o,
            ss_counters *ctr, ss_err *err);

#endif
