/*
 * control.h — read, check and rewrite global/pg_control.
 *
 * What this module promises:
 * - ss_pg_control_parse accepts exactly the pg_control formats of
 *   PostgreSQL 12 (pg_control_version 1201), 13 to 16 (1300) and 17 (1700),
 *   as written on a little-endian 64-bit machine, and only when the file is
 *   PG_CONTROL_FILE_SIZE (8192) bytes long and its CRC-32C is right. Every
 *   other input is refused with a one-line message saying which check failed
 *   (too short, unknown version, wrong size, bad CRC, foreign architecture).
 * - The parsed fields are copied into a plain struct; the file's bytes are
 *   kept as they were read, so a rewrite changes only the fields asked for.
 * - ss_pg_control_write writes the file the way PostgreSQL does
 *   (update_controlfile): in place, 8192 bytes, the control data followed by
 *   zeros, then fsync of the file and of global/. It never goes through a
 *   symlink below the root (engine/pathsafe.h).
 * - ss_pg_control_same_cluster says whether two data directories belong to
 *   the same cluster and can be synchronized, naming the first field that
 *   differs.
 */
#ifndef SEGSYNC_PG_CONTROL_H
#define SEGSYNC_PG_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"

#define SS_PG_CONTROL_FILE_SIZE 8192
#define SS_PG_CONTROL_PATH "global/pg_control"

/* DBState, same numbering in every supported version. */
typedef enum {
    SS_PG_DB_STARTUP = 0,
    SS_PG_DB_SHUTDOWNED,
    SS_PG_DB_SHUTDOWNED_IN_RECOVERY,
    SS_PG_DB_SHUTDOWNING,
    SS_PG_DB_IN_CRASH_RECOVERY,
    SS_PG_DB_IN_ARCHIVE_RECOVERY,
    SS_PG_DB_IN_PRODUCTION
} ss_pg_dbstate;

typedef struct {
    uint32_t pg_control_version;
    uint32_t catalog_version_no;
    uint64_t system_identifier;
    ss_pg_dbstate state;
    int64_t time;                   /* last update of pg_control, unix time */

    uint64_t checkpoint;            /* LSN of the latest checkpoint record */
    uint64_t checkpoint_redo;       /* its REDO start point */
    uint32_t checkpoint_tli;        /* ThisTimeLineID */
    uint32_t checkpoint_prev_tli;   /* PrevTimeLineID */
    int full_page_writes;

    uint64_t min_recovery_point;
    uint32_t min_recovery_point_tli;
    uint64_t backup_start_point;
    uint64_t backup_end_point;
    int backup_end_required;

    int32_t wal_level;              /* 0 minimal, 1 replica, 2 logical */
    int wal_log_hints;
    int32_t max_connections;

    uint32_t blcksz;
    uint32_t relseg_size;
    uint32_t xlog_blcksz;
    uint32_t xlog_seg_size;
    uint32_t data_checksum_version; /* 0 = checksums off */
    uint32_t crc;

    size_t data_len;                /* bytes covered by the layout (CRC included) */
    unsigned char raw[SS_PG_CONTROL_FILE_SIZE];     /* the file as read */
} ss_pg_control;

/* Fields a recovery sets before writing pg_control into the target. */
typedef struct {
    ss_pg_dbstate state;
    uint64_t min_recovery_point;
    uint32_t min_recovery_point_tli;
    uint64_t backup_start_point;
    uint64_t backup_end_point;
    int backup_end_required;
} ss_pg_control_update;

/* Parse len bytes of a pg_control file. `what` names it in messages
 * (a path, "source pg_control", ...). 0, or -1 with err (SS_ECLUSTER). */
int ss_pg_control_parse(const void *buf, size_t len, const char *what,
                        ss_pg_control *out, ss_err *err);

/* Read and parse <datadir>/global/pg_control. */
int ss_pg_control_read(const char *datadir, ss_pg_control *out, ss_err *err);
/* Same from an open data directory descriptor; `root_name` is for messages. */
int ss_pg_control_read_at(int rootfd, const char *root_name, ss_pg_control *out,
                          ss_err *err);

/* Set the update's fields in c (struct and raw bytes) and recompute the
 * CRC. Pure: touches no file. */
void ss_pg_control_set(ss_pg_control *c, const ss_pg_control_update *u);

/* Write c->raw as <rootfd>/global/pg_control (after ss_pg_control_set when
 * upd is not NULL), then fsync the file and global/. The CRC is recomputed
 * before writing, so the file on disk is always self-consistent. */
int ss_pg_control_write(int rootfd, ss_pg_control *c, const ss_pg_control_update *upd,
                        ss_err *err);

/* 0 when a and b describe the same cluster layout (system identifier,
 * pg_control version, catalog version, BLCKSZ, XLOG_BLCKSZ, WAL segment
 * size); else -1 with SS_ECLUSTER and a message such as
 * "source and target are different clusters: system identifier 1 != 2".
 * a_name/b_name label the two sides (NULL: "source"/"target"). */
int ss_pg_control_same_cluster(const ss_pg_control *a, const ss_pg_control *b,
                               const char *a_name, const char *b_name, ss_err *err);

/* pg_controldata's words for a state ("shut down", "in production", ...). */
const char *ss_pg_dbstate_name(ss_pg_dbstate s);

/* "12", "13-16", "17" for a supported pg_control_version, else NULL. */
const char *ss_pg_control_version_name(uint32_t pg_control_version);

#endif
