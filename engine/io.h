/*
 * io.h — batched positional reads and writes on file descriptors.
 *
 * One ss_io belongs to one thread. Operations are queued with ss_io_submit
 * and completed with ss_io_wait (or ss_io_run for a batch); a completed op
 * has transferred its whole length unless it hit end of file (reads) or an
 * error, so callers never see short transfers in the middle of a file.
 *
 * Backends: io_uring (many ops in flight on one ring) and plain
 * pread/pwrite. SS_IO_AUTO tries io_uring and silently uses pread/pwrite
 * when the ring cannot be set up (EPERM/ENOSYS/ENOMEM: seccomp, old kernel,
 * memlock limits). SS_IO_URING fails instead of falling back.
 */
#ifndef SEGSYNC_IO_H
#define SEGSYNC_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/error.h"

typedef enum { SS_IO_AUTO = 0, SS_IO_URING, SS_IO_PSYNC } ss_io_kind;

typedef struct ss_io ss_io;

typedef struct ss_io_op {
    int fd;
    int is_write;
    void *buf;
    size_t len;
    uint64_t off;
    /* Performed at submit, in the caller's thread, whatever the backend: for
     * a write into the page cache, which is a copy. io_uring hands those to
     * a kernel worker thread, and waking it and being woken back costs more
     * than the copy (in a paravirtualised guest). */
    int now;
    /* Filled on completion: bytes transferred (>= 0) or -errno. */
    ssize_t res;
    /* Private to the backend. */
    size_t done_bytes;
    int state;
} ss_io_op;

/* depth: how many operations may be in flight at once. */
int ss_io_open(ss_io **out, ss_io_kind kind, unsigned depth, ss_err *err);
void ss_io_close(ss_io *io);
ss_io_kind ss_io_backend(const ss_io *io);
const char *ss_io_kind_name(ss_io_kind kind);
/* Parse "uring" / "psync" / "auto"; -1 when unknown. */
int ss_io_kind_parse(const char *s);

/* Queue one operation. With psync (or op->now) it is performed immediately. */
int ss_io_submit(ss_io *io, ss_io_op *op, ss_err *err);
/* Wait until `op` (previously submitted) has completed. Returns op->res. */
ssize_t ss_io_wait(ss_io *io, ss_io_op *op);
/* Submit n ops and wait for all. Returns 0, or -1 with err naming the first
 * failed op's fd-less description (callers add the path). */
int ss_io_run(ss_io *io, ss_io_op *ops, size_t n, ss_err *err);

#endif
