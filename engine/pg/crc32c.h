/*
 * crc32c.h — CRC-32C (Castagnoli), as PostgreSQL uses for pg_control and WAL.
 *
 * PostgreSQL's convention: start with SS_CRC32C_INIT, feed data with
 * ss_crc32c_update (any number of calls), finish with ss_crc32c_final.
 */
#ifndef SEGSYNC_PG_CRC32C_H
#define SEGSYNC_PG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#define SS_CRC32C_INIT 0xFFFFFFFFu

uint32_t ss_crc32c_update(uint32_t crc, const void *data, size_t len);
static inline uint32_t ss_crc32c_final(uint32_t crc) { return crc ^ 0xFFFFFFFFu; }
/* One-shot: final(update(INIT, data, len)). */
uint32_t ss_crc32c(const void *data, size_t len);

#endif
