/*
 * exclude.h — which entries of a data directory a recovery leaves alone.
 *
 * The rules are PostgreSQL 15's base backup (src/backend/backup/basebackup.c:
 * excludeDirContents, excludeFiles, PG_TEMP_FILE_PREFIX, temporary and
 * unlogged relations, pg_wal) plus Greenplum's (gprecoverseg's rsync
 * excludes). Paths are relative to the data directory, no leading "./".
 *
 * What this module promises:
 * - ss_pg_exclude_reason is a pure function of (options, path, is_dir):
 *   it touches no file and returns a short reason, or NULL to include.
 * - ss_pg_exclude_filter has the shape of ss_walk_opts.filter; with
 *   ss_walk (which asks about a directory before its contents) a directory
 *   whose contents are excluded is still listed, empty.
 * - Unlogged relations need to know whether a sibling <rel>_init exists,
 *   which a per-path filter cannot see: ss_pg_drop_unlogged is the second
 *   pass over the sorted listing.
 * - internal.auto.conf (Greenplum, per instance) is never copied (the
 *   filter leaves it out) and ss_pg_protected_on_target says the target's
 *   copy must never be deleted or overwritten.
 * - global/pg_control is *included*: the caller handles it last.
 */
#ifndef SEGSYNC_PG_EXCLUDE_H
#define SEGSYNC_PG_EXCLUDE_H

#include <stddef.h>
#include <sys/stat.h>

#include "engine/error.h"
#include "engine/walk.h"

typedef struct {
    /* Leave out pg_wal's contents, keeping pg_wal/ and pg_wal/archive_status/
     * as empty directories (what a base backup without WAL sends). Full and
     * differential recovery set it and bring the WAL they need themselves. */
    int skip_wal;
    /* Also apply Greenplum's rules: contents of log/ and backups/, and
     * db_dumps and promote at the top level. */
    int greenplum;
    /* Told about every path left out, with the reason; may be NULL. */
    void (*skipped)(void *ctx, const char *path, const char *why);
    void *skipped_ctx;
} ss_pg_exclude_opts;

/* The reason `path` is left out, or NULL when it is included. */
const char *ss_pg_exclude_reason(const ss_pg_exclude_opts *o, const char *path, int is_dir);

/* ss_walk_opts.filter: ctx is a const ss_pg_exclude_opts * (NULL means all
 * options off). Returns 1 to include, 0 to leave out (after telling
 * o->skipped). */
int ss_pg_exclude_filter(void *ctx, const char *path, const struct stat *st);

/* 1 when the target's entry at `path` belongs to the target instance and
 * must be neither deleted nor replaced (internal.auto.conf). */
int ss_pg_protected_on_target(const char *path);

/* In every database directory of the sorted listing l, when <rel>_init is
 * present remove <rel>, <rel>.<n>, <rel>_fsm[.n], <rel>_vm[.n] (the init
 * fork is kept: PostgreSQL rebuilds the main fork from it at startup).
 * Dropped entries are freed and reported through o->skipped (o may be
 * NULL). Returns how many were dropped, or -1 with err (out of memory). */
long ss_pg_drop_unlogged(ss_entry_list *l, const ss_pg_exclude_opts *o, ss_err *err);

#endif
