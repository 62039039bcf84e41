/* walpage.c — decode WAL page headers. */
#include "engine/pg/walpage.h"

#include "engine/pg/walformat.h"

void ss_wal_page_header_parse(const uint8_t *buf, ss_wal_page_header *h)
{
    h->magic = ss_rd16(buf);
    h->info = ss_rd16(buf + 2);
    h->tli = ss_rd32(buf + 4);
    h->pageaddr = ss_rd64(buf + 8);
    h->rem_len = ss_rd32(buf + 16);
    h->is_long = h->info & SS_XLP_LONG_HEADER;
    if (h->is_long) {
        h->sysid = ss_rd64(buf + 24);
        h->seg_size = ss_rd32(buf + 32);
        h->page_size = ss_rd32(buf + 36);
        h->size = SS_XLP_LONG_SIZE;
    } else {
        h->sysid = 0;
        h->seg_size = h->page_size = 0;
        h->size = SS_XLP_SHORT_SIZE;
    }
}

bool ss_wal_page_header_is_zero(const uint8_t *buf)
{
    for (unsigned i = 0; i < SS_XLP_SHORT_SIZE; i++)
        if (buf[i])
            return false;
    return true;
}

static bool pow2(uint32_t v) { return v && !(v & (v - 1)); }

bool ss_wal_sizes_valid(uint32_t seg_size, uint32_t page_size)
{
    return pow2(seg_size) && pow2(page_size) && page_size >= 1024 &&
           page_size <= 65536 && seg_size >= (1u << 20) && seg_size <= (1u << 30);
}
