/*
 * pgsync.h — full and differential recovery of a PostgreSQL / Greenplum
 * data directory, as orchestrations over the generic engine (sync.h).
 *
 * The order, which is the safety argument:
 *   1. read both control files; refuse a running target, another cluster
 *      (unless full), a different block size, a running source without a
 *      connection to take a backup bracket;
 *   2. connect, create the slot, start the backup (live source);
 *   3. remove the target's global/pg_control: from here until step 8 the
 *      target cannot be started by mistake, and a rerun finishes it;
 *   4. sync the data directory under PostgreSQL's exclusion rules (pg_wal
 *      contents, pg_control and tablespaces are left to later steps);
 *   5. sync each tablespace into its (mapped) location;
 *   6. stop the backup; write backup_label and tablespace_map;
 *   7. bring the WAL from the backup's start to its stop into pg_wal;
 *      -R writes standby.signal and primary_conninfo;
 *   8. make everything durable, then write global/pg_control last.
 */
#ifndef SEGSYNC_RECOVERY_PGSYNC_H
#define SEGSYNC_RECOVERY_PGSYNC_H

#include "engine/error.h"
#include "engine/sync.h"

struct ss_pgsrc;

typedef struct {
    const char *old_dir, *new_dir;
} ss_tblspc_map;

typedef struct {
    int full;                   /* copy every file (pg_basebackup's end state) */
    int in_place;               /* full, but skip identical blocks */
    const char *source_dir, *target_dir;
    /* Where the source's files come from (pgsource.h): NULL = source_dir on
     * this host. Not owned. */
    struct ss_pgsrc *source;
    const char *conninfo;       /* live source; NULL when it is shut down */
    const char *slot;           /* replication slot to keep the mirror's WAL */
    int write_recovery_conf;    /* -R */
    int fast_checkpoint;
    const ss_tblspc_map *maps;
    size_t nmaps;
    int target_dbid;            /* Greenplum: the mirror's dbid (0: none) */
    int greenplum;              /* Greenplum rules; -1 = detect */
    const char *label;          /* backup label */

    unsigned jobs;
    ss_io_kind io;
    size_t chunk_size;
    /* The target data directory's signatures hashed ahead (presig.h) while
     * the source was being reached, or NULL; used by the passes over
     * target_dir itself (not by those over tablespaces). Not owned. */
    struct ss_presig *presig;
    int dry_run;
    void (*event)(void *ctx, const ss_event *ev);
    void *event_ctx;
    int (*cancelled)(void *ctx);
    void *cancel_ctx;
    /* One-line notes on the steps ("backup started at 0/2000028"). */
    void (*note)(void *ctx, const char *msg);
    void *note_ctx;
} ss_pg_recover_opts;

int ss_pg_recover(const ss_pg_recover_opts *o, ss_counters *ctr, ss_err *err);

/* 1 when <datadir>/postmaster.pid names a live process. */
int ss_pg_postmaster_running(const char *datadir, long *pid);

#endif
