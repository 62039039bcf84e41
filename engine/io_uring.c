/* io_uring.c — the ring backend. Completions carry the op pointer; a short
 * transfer (which the kernel may return) is resubmitted for the remainder so
 * callers see whole operations. */
#include "engine/io_backend.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>

int ss_uring_setup(ss_io *io, unsigned depth)
{
    struct io_uring *ring = calloc(1, sizeof *ring);
    if (!ring)
        return -ENOMEM;
    int rc = io_uring_queue_init(depth, ring, 0);
    if (rc < 0) {
        free(ring);
        return rc;
    }
    io->ring = ring;
    return 0;
}

void ss_uring_teardown(ss_io *io)
{
    struct io_uring *ring = io->ring;
    /* Never leave the kernel writing into memory we are about to free:
     * push what is still queued, then reap every completion. */
    if (io->inflight > 0)
        io_uring_submit(ring);
    while (io->inflight > 0) {
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe(ring, &cqe) < 0)
            break;
        ss_io_op *op = io_uring_cqe_get_data(cqe);
        if (op)
            op->state = SS_OP_DONE;
        io_uring_cqe_seen(ring, cqe);
        io->inflight--;
    }
    io_uring_queue_exit(ring);
    free(ring);
    io->ring = NULL;
}

static void reap_one(ss_io *io, struct io_uring_cqe *cqe);

static struct io_uring_sqe *get_sqe(ss_io *io)
{
    struct io_uring *ring = io->ring;
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    while (!sqe) {
        /* Submission queue full: push what is queued and make room. */
        io_uring_submit(ring);
        struct io_uring_cqe *cqe;
        if (io_uring_wait_cqe(ring, &cqe) == 0)
            reap_one(io, cqe);
        sqe = io_uring_get_sqe(ring);
    }
    return sqe;
}

static void prep(ss_io *io, ss_io_op *op)
{
    struct io_uring_sqe *sqe = get_sqe(io);
    char *p = (char *)op->buf + op->done_bytes;
    unsigned n = (unsigned)(op->len - op->done_bytes > (1u << 30) ? (1u << 30) : op->len - op->done_bytes);
    if (op->is_write)
        io_uring_prep_write(sqe, op->fd, p, n, op->off + op->done_bytes);
    else
        io_uring_prep_read(sqe, op->fd, p, n, op->off + op->done_bytes);
    io_uring_sqe_set_data(sqe, op);
    op->state = SS_OP_INFLIGHT;
    io->inflight++;
}

static void reap_one(ss_io *io, struct io_uring_cqe *cqe)
{
    ss_io_op *op = io_uring_cqe_get_data(cqe);
    int res = cqe->res;
    io_uring_cqe_seen(io->ring, cqe);
    io->inflight--;
    if (!op)
        return;
    if (res == -EINTR || res == -EAGAIN) {
        prep(io, op);
        return;
    }
    if (res < 0) {
        op->res = res;
        op->state = SS_OP_DONE;
        return;
    }
    op->done_bytes += (size_t)res;
    if (res == 0 || op->done_bytes >= op->len) {
        op->res = (res == 0 && op->is_write) ? -EIO : (ssize_t)op->done_bytes;
        op->state = SS_OP_DONE;
        return;
    }
    prep(io, op);   /* short transfer: continue where it stopped */
}

int ss_uring_submit(ss_io *io, ss_io_op *op, ss_err *err)
{
    (void)err;
    if (op->len == 0) {
        op->res = 0;
        op->state = SS_OP_DONE;
        return 0;
    }
    prep(io, op);
    /* Submission is deferred to wait: a batch of submits costs one syscall. */
    return 0;
}

void ss_uring_wait(ss_io *io, ss_io_op *op)
{
    struct io_uring *ring = io->ring;
    while (op->state != SS_OP_DONE) {
        struct io_uring_cqe *cqe;
        int rc = io_uring_submit_and_wait(ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            op->res = rc;
            op->state = SS_OP_DONE;
            return;
        }
        while (io_uring_peek_cqe(ring, &cqe) == 0)
            reap_one(io, cqe);
    }
}
