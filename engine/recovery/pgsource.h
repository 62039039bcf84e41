/*
 * pgsource.h — the source side of a PostgreSQL recovery, wherever it is.
 *
 * Full, differential and incremental recovery need four things from the
 * source's data directory: a few small files read whole (global/pg_control,
 * timeline history files, internal.auto.conf), whether a postmaster runs
 * there, the tablespace links in pg_tblspc, and engine sources (source.h)
 * over the data directory and over each tablespace's location. Three
 * implementations give them:
 *   - a directory on this host (ss_pgsrc_local_open);
 *   - a segsync agent on the source host (ss_pgsrc_remote_open, over ssh or
 *     TCP; the agent follows pg_tblspc/<oid> links of a data directory);
 *   - the running server itself through libpq (ss_pgsrc_libpq_open;
 *     pg_read_binary_file), when no agent can run on the source host.
 * The recovery code never asks which one it has.
 */
#ifndef SEGSYNC_RECOVERY_PGSOURCE_H
#define SEGSYNC_RECOVERY_PGSOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/pg/control.h"
#include "engine/recovery/rewind.h"
#include "engine/source.h"
#include "engine/walk.h"

typedef struct ss_pgsrc ss_pgsrc;

typedef struct {
    /* A whole regular file, path relative to the data directory, at most
     * max bytes: 0 (*buf malloc'ed, NUL-terminated beyond *len), 1 it does
     * not exist, -1 error. */
    int (*read_file)(ss_pgsrc *p, const char *path, size_t max, void **buf, size_t *len,
                     ss_err *err);
    /* An engine source over a tree of the source: "" = the data directory,
     * "pg_tblspc/<oid>" = that tablespace's location. wo filters the listing
     * as ss_walk would; live: files may vanish or shrink while read (a
     * running server inside a backup bracket). The pgsrc must outlive it. */
    int (*open_tree)(ss_pgsrc *p, const char *sub, const ss_walk_opts *wo, int live,
                     ss_source **out, ss_err *err);
    /* 1 when a postmaster may be running on the source directory (a live
     * pid, or for a remote source a postmaster.pid file), 0 not, -1 error. */
    int (*postmaster_running)(ss_pgsrc *p, ss_err *err);
    /* Bytes received from the source host so far (0 on this host). */
    uint64_t (*wire_bytes)(ss_pgsrc *p);
    void (*destroy)(ss_pgsrc *p);
} ss_pgsrc_ops;

struct ss_pgsrc {
    const ss_pgsrc_ops *ops;
    const char *name;           /* for messages: "/data/p", "host:/data/p", "server" */
    /* The data directory when it is on this host (tablespace locations can
     * then be checked against the target's), else NULL. */
    const char *local_dir;
};

/* A data directory on this host. `dir` must outlive the source. */
int ss_pgsrc_local_open(ss_pgsrc **out, const char *dir, ss_err *err);

/* A data directory served by a segsync agent: `base` is an open remote
 * source (source_remote.h) whose root is the data directory; the pgsrc
 * takes ownership of it. */
int ss_pgsrc_remote_open(ss_pgsrc **out, ss_source *base, ss_err *err);

/* The data directory of the server at conninfo, read through libpq with
 * up to nconn connections. */
int ss_pgsrc_libpq_open(ss_pgsrc **out, const char *conninfo, unsigned nconn, ss_err *err);

void ss_pgsrc_destroy(ss_pgsrc *p);

/* ---- shared helpers over any pgsrc (pgsource.c) ---- */

/* global/pg_control, parsed; messages say "source NAME: ...". */
int ss_pgsrc_read_control(ss_pgsrc *p, ss_pg_control *out, ss_err *err);

/* Timeline history of tli (pg_wal/<tli>.history; tli 1 has none). */
int ss_pgsrc_read_history(ss_pgsrc *p, uint32_t tli, ss_wal_tli_range **out, size_t *n,
                          ss_err *err);

/* 1 when the file exists, 0 not, -1 error. */
int ss_pgsrc_exists(ss_pgsrc *p, const char *path, ss_err *err);

/* The tablespace links of pg_tblspc: entries "<oid>" with link = the
 * location as the source host sees it. */
int ss_pgsrc_tablespaces(ss_pgsrc *p, ss_entry_list *out, ss_err *err);

#endif
