/*
 * source.h — where the right tree comes from.
 *
 * One small interface, in the spirit of pg_rewind's rewind_source: list the
 * tree, and answer "which blocks of this range differ from these target
 * signatures, and what are they". Implementations: a local directory
 * (source_local.c), the segsync agent over a byte stream, libpq. The rest of
 * the engine never asks which one it has.
 *
 * range() is called concurrently from the engine's worker threads, each with
 * its own ss_worker (io ring and scratch buffers); an implementation must be
 * safe for that.
 */
#ifndef SEGSYNC_SOURCE_H
#define SEGSYNC_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/blocksig.h"
#include "engine/error.h"
#include "engine/io.h"
#include "engine/walk.h"

/* Per-thread resources handed to a source by the engine. */
typedef struct {
    ss_io *io;
    void *buf;              /* buf_size bytes (+ SS_DIRECT_ALIGN slack), page aligned */
    size_t buf_size;
    ss_sig *sigs;           /* room for chunk_size / block_size sigs */
} ss_worker;

/* One chunk of one regular file. */
typedef struct {
    const char *path;       /* relative path as listed */
    uint64_t file_size;     /* size in the source listing */
    uint64_t off;           /* multiple of block_size */
    uint64_t len;           /* off + len <= file_size */
    uint32_t block_size;
    int last;               /* last chunk: the source checks the file's size */
    /* Send only blocks whose signature differs from the target's. When
     * false every block of the range is sent (full copy). */
    int compare;
} ss_range_req;

/* The target's signatures for the blocks of a range, computed on demand so
 * the source can read its own copy while the target's is being read. A
 * block index >= *n (target file shorter) always differs. Calling it again
 * returns the same signatures without reading again. */
typedef int (*ss_tsig_fn)(void *ctx, const ss_sig **sigs, size_t *n, ss_err *err);

/* Receives the source's bytes for a run of consecutive blocks. */
typedef int (*ss_block_sink)(void *ctx, uint64_t off, const void *data, size_t len,
                             ss_err *err);

typedef struct ss_source ss_source;

/* A range request in flight: see range_start. */
typedef struct ss_range_op ss_range_op;

typedef struct {
    /* The whole tree, sorted by ss_path_cmp. */
    int (*list)(ss_source *s, ss_entry_list *out, ss_err *err);
    /* 0 done, 1 the file no longer exists in the source (only a live
     * source says so; see ss_source_local_set_live), -1 error. */
    int (*range)(ss_source *s, ss_worker *w, const ss_range_req *req,
                 ss_tsig_fn tsig, void *tctx, ss_block_sink sink, void *sctx,
                 ss_err *err);
    /* Bytes received from the source so far (0 for a local source). */
    uint64_t (*wire_bytes)(ss_source *s);
    /* Optional (NULL when the source is not on this host): copy a range of
     * a file straight into dst_fd at the same offset inside the kernel
     * (copy_file_range), leaving holes where the source has them. 0 done
     * (*written = bytes written), 1 the file vanished (live source), 2 not
     * possible between these files (use range()), -1 error. */
    int (*copy_to)(ss_source *s, const ss_range_req *req, int dst_fd, uint64_t *written,
                   ss_err *err);
    /* Optional (sources on another host): range() in two halves, so one
     * worker can have several requests in flight and sleep once for all of
     * them instead of once each. range_start asks (calling tsig first when
     * req->compare); the answer's bytes land in buf (room for req->len)
     * meanwhile, so buf must stay untouched until range_finish, which
     * waits and hands each run to sink exactly as range() would, and
     * returns what range() returns. Every op range_start returned (0) must
     * be finished, also after an error elsewhere. A started request may
     * wait in the transport until range_finish is next called (by any
     * worker): a batch's requests go out together. */
    int (*range_start)(ss_source *s, const ss_range_req *req, void *buf, ss_tsig_fn tsig,
                       void *tctx, ss_range_op **op, ss_err *err);
    int (*range_finish)(ss_source *s, ss_range_op *op, ss_block_sink sink, void *sctx,
                        ss_err *err);
    void (*destroy)(ss_source *s);
} ss_source_ops;

struct ss_source {
    const ss_source_ops *ops;
    const char *name;       /* for messages: "/data/primary" or "host:/data" */
};

/* A directory on this host. `walk_opts` (may be NULL) filters the listing. */
int ss_source_local_open(ss_source **out, const char *root, const ss_walk_opts *walk_opts,
                         ss_err *err);

/* A live source (a running PostgreSQL server inside a backup bracket):
 * files may vanish, shrink or grow while they are read, and WAL replay
 * repairs whatever was copied in between, as with pg_basebackup. A vanished
 * file is reported (range returns 1), a shrunk one is padded with zeros to
 * the listed size, growth beyond the listed size is ignored. Without it any
 * of these is an error (SS_ECHANGED), which is what raw mode wants. */
void ss_source_local_set_live(ss_source *s, int live);

/* Compare one chunk: the shared logic of every source that hashes blocks
 * itself. data holds the source's bytes for req; calls sink for each run of
 * blocks that differ from tsigs (or all when !req->compare). */
int ss_source_emit_diff(const ss_range_req *req, const void *data, ss_sig *scratch,
                        ss_tsig_fn tsig, void *tctx, ss_block_sink sink, void *sctx,
                        ss_err *err);

#endif
