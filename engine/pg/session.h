/*
 * session.h — the libpq session with a running source server: the backup
 * bracket and the replication slot that keeps the mirror's WAL.
 *
 * The bracket is non-exclusive and lives as long as the session: if segsync
 * dies or the connection drops, the server ends the backup itself, so no
 * backup is ever left in progress on the source.
 */
#ifndef SEGSYNC_PG_SESSION_H
#define SEGSYNC_PG_SESSION_H

#include <stdint.h>

#include "engine/error.h"

typedef struct ss_pg_session ss_pg_session;

typedef struct {
    uint64_t lsn;
    uint32_t tli;
} ss_pg_backup_start;

typedef struct {
    uint64_t lsn;
    char *labelfile;        /* contents for backup_label (malloc'ed) */
    char *spcmapfile;       /* contents for tablespace_map, or NULL when empty */
} ss_pg_backup_stop;

int ss_pg_session_open(ss_pg_session **out, const char *conninfo, ss_err *err);
void ss_pg_session_close(ss_pg_session *s);
int ss_pg_session_version(const ss_pg_session *s);   /* e.g. 150004 */

/* Create a physical slot reserving WAL now, unless it exists already. */
int ss_pg_ensure_slot(ss_pg_session *s, const char *slot, int *created, ss_err *err);
/* CHECKPOINT (used before reading the source's control file). */
int ss_pg_checkpoint(ss_pg_session *s, ss_err *err);
/* Current WAL insert position of a primary. */
int ss_pg_current_lsn(ss_pg_session *s, uint64_t *lsn, ss_err *err);

int ss_pg_backup_begin(ss_pg_session *s, const char *label, int fast, ss_pg_backup_start *out,
                       ss_err *err);
int ss_pg_backup_end(ss_pg_session *s, ss_pg_backup_stop *out, ss_err *err);
/* End a started backup after a failure, ignoring errors. */
void ss_pg_backup_abort(ss_pg_session *s);
void ss_pg_backup_stop_free(ss_pg_backup_stop *b);

/* Parse "16/B374D848" into an LSN; -1 when malformed. */
int ss_pg_parse_lsn(const char *s, uint64_t *lsn);

#endif
