#include "engine/blocksig.h"

#include <xxhash.h>

void ss_sig_block(const void *data, size_t len, ss_sig *out)
{
    XXH128_hash_t h = XXH3_128bits(data, len);
    out->lo = h.low64;
    out->hi = h.high64;
}

size_t ss_sig_blocks(const void *data, size_t len, size_t bs, ss_sig *out)
{
    size_t n = 0;
    for (size_t off = 0; off < len; off += bs, n++)
        ss_sig_block((const char *)data + off, len - off < bs ? len - off : bs, &out[n]);
    return n;
}
