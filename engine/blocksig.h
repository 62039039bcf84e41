/*
 * blocksig.h — block signatures: the XXH3-128 hash of each block of a file.
 *
 * A block is block_size bytes at a multiple of block_size; the last block of
 * a file may be shorter, and its signature covers only the bytes it has.
 */
#ifndef SEGSYNC_BLOCKSIG_H
#define SEGSYNC_BLOCKSIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t lo, hi;
} ss_sig;

void ss_sig_block(const void *data, size_t len, ss_sig *out);
/* Signatures of the ceil(len / bs) blocks of data; returns their count. */
size_t ss_sig_blocks(const void *data, size_t len, size_t bs, ss_sig *out);
static inline int ss_sig_eq(const ss_sig *a, const ss_sig *b)
{
    return a->lo == b->lo && a->hi == b->hi;
}
static inline size_t ss_nblocks(uint64_t len, size_t bs)
{
    return (size_t)((len + bs - 1) / bs);
}

#endif
