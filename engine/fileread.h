/*
 * fileread.h — read a range of a file from wherever it is cheapest.
 *
 * A range the page cache holds entirely (cachestat) is copied from there
 * (a non-blocking preadv2 with RWF_NOWAIT); anything else is read from the device with
 * O_DIRECT through the io ring, which skips the page cache entirely: on a
 * cold comparison of two large trees that halves the kernel time per byte
 * (no copy into the cache and out of it again, nothing evicted). Where
 * O_DIRECT cannot be used (tmpfs, some file systems) the read is buffered.
 *
 * Buffers must be 4096-aligned and have room for len rounded up to 4096.
 */
#ifndef SEGSYNC_FILEREAD_H
#define SEGSYNC_FILEREAD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/io.h"

#define SS_DIRECT_ALIGN 4096u
/* Below this a read is not worth a second descriptor. */
#define SS_DIRECT_MIN (64u << 10)

typedef struct {
    int fd;         /* buffered descriptor (always valid when open) */
    int dfd;        /* O_DIRECT descriptor, or -1 */
} ss_rfile;

typedef struct {
    ss_io_op op;
    size_t len;         /* bytes wanted */
    size_t cached;      /* bytes copied from the page cache */
    size_t start;       /* where the device read begins in buf */
    int submitted;
} ss_rfile_read;

/* Add an O_DIRECT descriptor to an open file (f->fd), when possible. */
void ss_rfile_direct(ss_rfile *f);
/* A second descriptor of the same open file with O_DIRECT and the access
 * mode in accmode (O_RDONLY, O_WRONLY): the descriptor, or -1 when the file
 * system refuses O_DIRECT (tmpfs) or anything else fails. */
int ss_reopen_direct(int fd, int accmode);
void ss_rfile_close(ss_rfile *f);

/* A buffer of at least len bytes for reading and hashing, 4096-aligned;
 * one of 512 KiB or more is rounded up to whole 2 MiB extents, aligned, and
 * asked to be backed by transparent huge pages (where the kernel's THP mode
 * is "madvise"): copying out of the page cache into 4 KiB pages spends a
 * good part of its time on TLB misses (1 GiB warm differential, medians of
 * 9: 0.34 -> 0.29 s locally). *cap (may be NULL) gets the usable size.
 * NULL when out of memory. Free with free(). */
void *ss_iobuf_alloc(size_t len, size_t *cap);

int ss_rfile_read_start(ss_io *io, ss_rfile *f, void *buf, size_t len, uint64_t off,
                        ss_rfile_read *r, ss_err *err);
/* Bytes read (<= len; fewer only at end of file) or -errno. */
ssize_t ss_rfile_read_wait(ss_io *io, ss_rfile_read *r);

#endif
