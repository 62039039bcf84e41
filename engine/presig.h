/*
 * presig.h — the target's block signatures, computed ahead of time.
 *
 * A comparison with a source on another host begins with a wait: ssh logs
 * in, the agent starts, the handshake runs (a quarter of a second on a LAN,
 * seconds with some logins). The target's half of the comparison does not
 * depend on the source, so it can be done meanwhile: a thread walks the
 * target in the engine's order (ss_path_cmp) and keeps each regular file's
 * block signatures until it is stopped, the tree is done or its memory
 * budget is spent. The engine then takes a chunk's target signatures from
 * here instead of reading the target again, but only for a file whose size
 * and mtime are still those it had when it was hashed (the engine's own
 * walk of the target says); anything else is read as before.
 *
 * It is an optimisation and never an error: a target that cannot be walked
 * or read just yields fewer (or no) signatures.
 */
#ifndef SEGSYNC_PRESIG_H
#define SEGSYNC_PRESIG_H

#include <stddef.h>
#include <stdint.h>

#include "engine/blocksig.h"
#include "engine/error.h"

typedef struct ss_presig ss_presig;

/* Start hashing the regular files under root in blocks of block_size,
 * keeping at most budget bytes of signatures. -1 (err) only when the
 * thread cannot be started. */
int ss_presig_start(ss_presig **out, const char *root, uint32_t block_size, size_t budget,
                    ss_err *err);

/* Wait until the whole tree (or the budget) is hashed. Lookups are valid
 * after it. Idempotent, as is a stop after it. */
void ss_presig_wait(ss_presig *p);

/* Stop the thread (a file being hashed is dropped) and wait for it.
 * Idempotent. Lookups are valid only after it. */
void ss_presig_stop(ss_presig *p);

/* The signatures of the blocks of [off, off + len) of path (off a multiple
 * of block_size, off + len <= size and, unless it is size, a multiple of
 * block_size: a block cut short by the range has no signature here), if
 * the file was hashed whole with
 * this block size and had this size and mtime: 1 with *sigs / *n set
 * (pointing into p, valid until ss_presig_free), else 0. */
int ss_presig_lookup(const ss_presig *p, const char *path, uint64_t size, int64_t mtime_sec,
                     long mtime_nsec, uint32_t block_size, uint64_t off, uint64_t len,
                     const ss_sig **sigs, size_t *n);

/* Files and bytes hashed (after stop), for diagnostics. */
void ss_presig_stats(const ss_presig *p, size_t *files, uint64_t *bytes);

void ss_presig_free(ss_presig *p);

#endif
