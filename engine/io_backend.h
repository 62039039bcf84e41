/* io_backend.h — private between io.c and io_uring.c. */
#ifndef SEGSYNC_IO_BACKEND_H
#define SEGSYNC_IO_BACKEND_H

#include "engine/io.h"

enum { SS_OP_IDLE = 0, SS_OP_INFLIGHT, SS_OP_DONE };

struct ss_io {
    ss_io_kind kind;
    unsigned depth;
    unsigned inflight;
    void *ring;         /* struct io_uring *, opaque here */
};

/* Returns 0 or -errno. */
int ss_uring_setup(ss_io *io, unsigned depth);
void ss_uring_teardown(ss_io *io);
int ss_uring_submit(ss_io *io, ss_io_op *op, ss_err *err);
void ss_uring_wait(ss_io *io, ss_io_op *op);

#endif
