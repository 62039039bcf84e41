/*
 * walpage.h — WAL page headers (short on every page, long on the first page
 * of each segment) of PostgreSQL 12-17.
 */
#ifndef SEGSYNC_PG_WALPAGE_H
#define SEGSYNC_PG_WALPAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint16_t magic;
    uint16_t info;            /* SS_XLP_* flags */
    uint32_t tli;
    uint64_t pageaddr;        /* the LSN of the page itself */
    uint32_t rem_len;         /* bytes of a record continued from before */
    bool is_long;
    uint64_t sysid;           /* long header only */
    uint32_t seg_size;        /* long header only */
    uint32_t page_size;       /* long header only */
    uint32_t size;            /* header bytes: 24 or 40 */
} ss_wal_page_header;

/* Parse the header at buf; len must be at least 40 (a page always is).
 * Only decodes: checking it against the expected page is the reader's job. */
void ss_wal_page_header_parse(const uint8_t *buf, ss_wal_page_header *h);

/* True when every header byte is zero: a page PostgreSQL never wrote. */
bool ss_wal_page_header_is_zero(const uint8_t *buf);

/* PostgreSQL's limits: pages a power of two in 1 KiB..64 KiB, segments a
 * power of two in 1 MiB..1 GiB. */
bool ss_wal_sizes_valid(uint32_t seg_size, uint32_t page_size);

#endif
