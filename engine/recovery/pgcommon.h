/*
 * pgcommon.h — the pieces that every PostgreSQL recovery mode shares:
 * what each pass of the engine lists (base-backup exclusions on the
 * source, what a recovery may remove on the target), one pass of the
 * engine over a data directory or a tablespace, tablespace links and
 * their locations, the target's owner, and removing the target's
 * pg_control first so an interrupted run cannot be started.
 *
 * Used by pgsync.c (full, differential) and pgrewind.c (incremental).
 */
#ifndef SEGSYNC_RECOVERY_PGCOMMON_H
#define SEGSYNC_RECOVERY_PGCOMMON_H

#include <sys/stat.h>
#include <sys/types.h>

#include "engine/pg/exclude.h"
#include "engine/recovery/pgsource.h"
#include "engine/recovery/pgsync.h"
#include "engine/sync.h"

/* One line through o->note (nothing when o->note is NULL). */
void ss_pg_note(const ss_pg_recover_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ctx of ss_pg_data_filter_fn / ss_pg_data_finish_fn. */
typedef struct {
    ss_pg_exclude_opts ex;
    const char *prefix;         /* "pg_tblspc/<oid>/" for a tablespace pass */
    int target_side;
} ss_pg_data_filter;

int ss_pg_data_filter_fn(void *ctx, const char *path, const struct stat *st);
int ss_pg_data_finish_fn(void *ctx, ss_entry_list *l, ss_err *err);

/* What every pass of one recovery shares. */
typedef struct {
    const ss_pg_recover_opts *o;
    ss_pgsrc *src;
    ss_counters *ctr;
    ss_target_opts topts;
    uint32_t blcksz;
    /* Incremental: ss_sync_opts.known_blocks, asked with the path relative
     * to the data directory ("pg_tblspc/<oid>/..." in a tablespace pass).
     * NULL: compare every block. */
    int (*known_blocks)(void *ctx, const char *path, const uint32_t **blocks, size_t *n);
    void *known_ctx;
} ss_pg_run;

/* One ss_sync of the source's tree `sub` ("" = the data directory,
 * "pg_tblspc/<oid>" = a tablespace) into dst_dir; prefix ("" or
 * "pg_tblspc/<oid>/") is what the pass's paths are below in the data
 * directory. */
int ss_pg_sync_pass(ss_pg_run *r, const char *sub, const char *dst_dir, const char *prefix,
                    ss_mode mode, ss_walk_opts *swo, ss_walk_opts *two, ss_err *err);

/* The source of a recovery: o->source, or a local one over o->source_dir
 * created into *own (free with ss_pgsrc_destroy; NULL when not created). */
int ss_pg_source_of(const ss_pg_recover_opts *o, ss_pgsrc **src, ss_pgsrc **own, ss_err *err);

/* The tablespace links of the source recreated in the target (mapped with
 * -T / --target-dbid), each location synced with the filters of base;
 * target links the source does not have removed (the link only). */
int ss_pg_sync_tablespaces(ss_pg_run *r, ss_mode mode, const ss_pg_data_filter *base, ss_err *err);

/* The target's location of a source tablespace location. */
const char *ss_pg_map_location(const ss_pg_recover_opts *o, const char *loc, char *buf, size_t n);

int ss_pg_mkdir_p(const char *path, mode_t mode, uid_t uid, gid_t gid);

/* Owner of what is created in the target: the target's (its parent's when
 * it does not exist yet) when run as root; else the running user. -1 when
 * neither exists. */
int ss_pg_target_owner(const ss_pg_recover_opts *o, ss_target_opts *t);

/* Remove backup_label, tablespace_map and global/pg_control of the target
 * (durably): from here on the target cannot be started by mistake. */
int ss_pg_remove_target_control(const ss_pg_recover_opts *o, ss_err *err);

#endif
