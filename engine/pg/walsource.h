/*
 * walsource.h — where the WAL reader gets segment bytes from.
 *
 * The reader asks for byte ranges of a segment (timeline, segment number);
 * it knows nothing of files. Two sources come with it: a pg_wal directory
 * and a set of in-memory segments (for tests and fuzzing). Anything else —
 * an archive, a remote agent — implements the same two calls.
 */
#ifndef SEGSYNC_PG_WALSOURCE_H
#define SEGSYNC_PG_WALSOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"

typedef struct ss_wal_source {
    void *ctx;
    /* Read up to len bytes at offset off of segment segno on timeline tli.
     * Returns the bytes read: len normally, fewer when the segment is short,
     * 0 when it does not exist. -1 with err set on an I/O error. */
    long (*read)(void *ctx, uint32_t tli, uint64_t segno, uint64_t off,
                 void *buf, size_t len, ss_err *err);
    void (*close)(void *ctx);
} ss_wal_source;

/* The file name PostgreSQL gives a segment: 24 hex digits, TLI + segno. */
void ss_wal_segment_name(char out[25], uint32_t tli, uint64_t segno,
                         uint32_t seg_size);

/* A pg_wal directory (keeps one segment file open at a time). */
int ss_wal_source_dir(const char *dir, uint32_t seg_size, ss_wal_source *out,
                      ss_err *err);

/* Find the segment and page sizes and the PostgreSQL major version from the
 * long header of the first segment file in dir (for tools that are not
 * given pg_control). */
int ss_wal_probe_dir(const char *dir, uint32_t *seg_size, uint32_t *page_size,
                     int *pg_major, ss_err *err);

/* In-memory segments. Each one is `len` bytes placed at offset `off` of
 * (tli, segno); the rest of that segment reads as zeros (unwritten WAL), and
 * segments not added do not exist. The bytes are not copied. */
typedef struct ss_wal_memseg {
    uint32_t tli;
    uint64_t segno;
    uint64_t off;
    const uint8_t *data;
    size_t len;
} ss_wal_memseg;

int ss_wal_source_mem(const ss_wal_memseg *segs, size_t nsegs,
                      uint32_t seg_size, ss_wal_source *out, ss_err *err);

#endif
