/*
 * pgrewind.h — incremental recovery: a WAL-driven rewind of a former
 * primary (or mirror) that diverged from the source, as pg_rewind does,
 * but with every non-relation file compared block by block instead of
 * copied whole, and with a differential recovery as the way out when the
 * WAL cannot tell what changed.
 *
 * The order:
 *   1. refuse a running target; CHECKPOINT a live source (its control
 *      file then shows the new timeline); read both control files: same
 *      cluster, target cleanly shut down, wal_log_hints or checksums on
 *      the target, full_page_writes on the source;
 *   2. same timeline, or a target WAL that ends at the divergence:
 *      "no rewind required" (-R still written);
 *   3. timeline histories -> divergence point; end of the target's WAL;
 *      last common checkpoint (xl_prev walk); the block map from that
 *      checkpoint to the end;  a WAL reason that stops any of this
 *      (segment missing, record not understood) either fails or, with
 *      fallback_differential, runs ss_pg_recover (differential) instead;
 *   4. remove the target's pg_control; sync the data directory (pg_wal
 *      included) and tablespaces with known_blocks = the block map;
 *   5. backup_label at the common checkpoint, -R, syncfs, then
 *      global/pg_control: the source's, in archive recovery, with the
 *      source's minimum recovery point.
 */
#ifndef SEGSYNC_RECOVERY_PGREWIND_H
#define SEGSYNC_RECOVERY_PGREWIND_H

#include "engine/error.h"
#include "engine/recovery/pgsync.h"
#include "engine/sync.h"

typedef struct {
    /* source_dir, target_dir, conninfo, write_recovery_conf, maps,
     * target_dbid, greenplum, jobs, io, chunk_size, dry_run and the
     * callbacks; slot (created on a live source, written by -R as
     * primary_slot_name); full, in_place and label are not used by the
     * rewind (the fallback uses label). */
    ss_pg_recover_opts base;
    int fallback_differential;
} ss_pg_rewind_opts;

typedef enum {
    SS_REWIND_DONE = 0,
    SS_REWIND_NOT_NEEDED,       /* same timeline / target is an ancestor */
    SS_REWIND_FELL_BACK         /* a differential recovery ran instead */
} ss_pg_rewind_outcome;

typedef struct {
    ss_pg_rewind_outcome outcome;
    /* On failure: the WAL stopped the rewind (fallback_differential would
     * have run a differential recovery). */
    int wal_problem;
    char why[1024];             /* the reason for the fallback / wal_problem */
    uint64_t map_files, map_blocks;     /* the block map's size */
} ss_pg_rewind_result;

int ss_pg_rewind(const ss_pg_rewind_opts *o, ss_pg_rewind_result *res, ss_counters *ctr,
                 ss_err *err);

#endif
