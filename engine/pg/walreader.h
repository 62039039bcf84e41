/*
 * walreader.h — read PostgreSQL 12-17 WAL records, one after another or at a
 * given LSN, from any ss_wal_source (a pg_wal directory, memory, ...).
 *
 * Promises:
 *  - Records that cross page and segment boundaries are reassembled; each
 *    page header is checked (magic of one PostgreSQL version, address, flags,
 *    segment and page size in long headers, one system identifier); each
 *    record's CRC-32C and every length in it are checked before use.
 *  - No length read from the input is trusted: memory grows only as record
 *    bytes actually arrive, and records are capped at PostgreSQL's maximum.
 *  - The end of WAL is told apart from damage: ss_wal_read_next returns 0
 *    (with ss_wal_end_reason saying why: zeros where a record should start, a
 *    never-written or recycled page, a record torn off at the end, a missing
 *    segment), and -1 only for input that valid WAL can never contain.
 */
#ifndef SEGSYNC_PG_WALREADER_H
#define SEGSYNC_PG_WALREADER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/pg/walrecord.h"
#include "engine/pg/walsource.h"

/* Timeline `tli` holds the WAL from begin up to end (0: open ended). */
typedef struct {
    uint32_t tli;
    ss_lsn begin, end;
} ss_wal_tli_range;

typedef struct {
    uint32_t seg_size;        /* wal_segment_size (pg_control / long header) */
    uint32_t page_size;       /* XLOG_BLCKSZ */
    uint32_t block_size;      /* BLCKSZ of data pages; 0 means page_size */
    int pg_major;             /* 12..17; 0: take it from the first page read */
    uint64_t sysid;           /* 0: take it from the first long header read */
    uint32_t tli;             /* timeline of the segment files... */
    const ss_wal_tli_range *history;  /* ...or, when nhistory > 0, the */
    size_t nhistory;          /* timelines in order: each segment is read from
                                 the newest timeline that begins before the
                                 segment's end (as pg_rewind does) */
} ss_wal_reader_config;

typedef enum {
    SS_WAL_END_NONE = 0,
    SS_WAL_END_ZERO_RECORD,     /* xl_tot_len 0 where a record should start */
    SS_WAL_END_UNWRITTEN_PAGE,  /* page header all zeros */
    SS_WAL_END_RECYCLED_PAGE,   /* page of an older segment reused in place */
    SS_WAL_END_TORN_RECORD,     /* record continues on a page that is not there */
    SS_WAL_END_MISSING_SEGMENT  /* segment file missing or too short */
} ss_wal_end;

typedef struct ss_wal_reader ss_wal_reader;

/* The reader owns src from here on (closes it in ss_wal_reader_free, and on
 * failure here). */
int ss_wal_reader_open(const ss_wal_reader_config *cfg, ss_wal_source src,
                       ss_wal_reader **out, ss_err *err);
void ss_wal_reader_free(ss_wal_reader *r);

/* Position at a record known to start at lsn (a checkpoint's redo record,
 * an xl_prev): the next read returns it. */
void ss_wal_seek(ss_wal_reader *r, ss_lsn lsn);

/* Position at the first record that starts at or after lsn (lsn may point
 * anywhere, e.g. a segment start, as pg_waldump --start). 1: found, *found
 * set; 0: end of WAL before one; -1: error. */
int ss_wal_find_first(ss_wal_reader *r, ss_lsn lsn, ss_lsn *found, ss_err *err);

/* Read the record at the current position and advance past it (past the
 * rest of the segment after a segment switch record). 1: *rec filled (its
 * pointers stay valid until the next call); 0: end of WAL; -1: error. */
int ss_wal_read_next(ss_wal_reader *r, ss_wal_record *rec, ss_err *err);

/* ss_wal_seek + ss_wal_read_next: the record at lsn, e.g. to walk xl_prev
 * links back to a checkpoint. End of WAL there is an error. */
int ss_wal_read_at(ss_wal_reader *r, ss_lsn lsn, ss_wal_record *rec, ss_err *err);

/* Why the last read returned 0, and a one-line description. */
ss_wal_end ss_wal_end_reason(const ss_wal_reader *r);
const char *ss_wal_end_name(ss_wal_end e);

/* What the reader learned or was told. */
int ss_wal_reader_version(const ss_wal_reader *r);
uint64_t ss_wal_reader_sysid(const ss_wal_reader *r);

#endif
