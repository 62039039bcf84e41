/* io.c — backend selection and the plain pread/pwrite backend; the ring
 * lives in io_uring.c. */
#include "engine/io.h"
#include "engine/io_backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *ss_io_kind_name(ss_io_kind kind)
{
    switch (kind) {
    case SS_IO_URING: return "uring";
    case SS_IO_PSYNC: return "psync";
    default: return "auto";
    }
}

int ss_io_kind_parse(const char *s)
{
    if (!strcmp(s, "uring")) return SS_IO_URING;
    if (!strcmp(s, "psync")) return SS_IO_PSYNC;
    if (!strcmp(s, "auto")) return SS_IO_AUTO;
    return -1;
}

int ss_io_open(ss_io **out, ss_io_kind kind, unsigned depth, ss_err *err)
{
    ss_io *io = calloc(1, sizeof *io);
    if (!io)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot allocate io state");
    if (depth == 0)
        depth = 8;
    io->depth = depth;
    if (kind != SS_IO_PSYNC) {
        int rc = ss_uring_setup(io, depth);
        if (rc == 0) {
            io->kind = SS_IO_URING;
            *out = io;
            return 0;
        }
        if (kind == SS_IO_URING) {
            free(io);
            return ss_seterr(err, SS_EUSAGE, -rc, "cannot set up io_uring (use --io=psync)");
        }
    }
    io->kind = SS_IO_PSYNC;
    *out = io;
    return 0;
}

void ss_io_close(ss_io *io)
{
    if (!io)
        return;
    if (io->kind == SS_IO_URING)
        ss_uring_teardown(io);
    free(io);
}

ss_io_kind ss_io_backend(const ss_io *io) { return io->kind; }

/* Full-length positional transfer; stops early only at end of file. */
static ssize_t psync_do(ss_io_op *op)
{
    size_t done = 0;
    while (done < op->len) {
        char *p = (char *)op->buf + done;
        ssize_t r = op->is_write
            ? pwrite(op->fd, p, op->len - done, (off_t)(op->off + done))
            : pread(op->fd, p, op->len - done, (off_t)(op->off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0) {
            if (op->is_write)
                return -EIO;
            break;
        }
        done += (size_t)r;
    }
    return (ssize_t)done;
}

int ss_io_submit(ss_io *io, ss_io_op *op, ss_err *err)
{
    op->done_bytes = 0;
    op->res = 0;
    if (io->kind == SS_IO_URING && !op->now)
        return ss_uring_submit(io, op, err);
    op->res = psync_do(op);
    op->state = SS_OP_DONE;
    return 0;
}

ssize_t ss_io_wait(ss_io *io, ss_io_op *op)
{
    if (io->kind == SS_IO_URING && op->state != SS_OP_DONE)
        ss_uring_wait(io, op);
    return op->res;
}

int ss_io_run(ss_io *io, ss_io_op *ops, size_t n, ss_err *err)
{
    size_t submitted = 0;
    int rc = 0;
    for (; submitted < n; submitted++)
        if (ss_io_submit(io, &ops[submitted], err) < 0) {
            rc = -1;
            break;
        }
    for (size_t i = 0; i < submitted; i++) {
        ssize_t r = ss_io_wait(io, &ops[i]);
        if (r < 0 && rc == 0)
            rc = ss_seterr(err, ops[i].is_write ? SS_ETARGET : SS_ESOURCE, (int)-r,
                           "%s failed", ops[i].is_write ? "write" : "read");
        else if (r >= 0 && ops[i].is_write && (size_t)r != ops[i].len && rc == 0)
            rc = ss_seterr(err, SS_ETARGET, EIO, "short write");
    }
    return rc;
}
