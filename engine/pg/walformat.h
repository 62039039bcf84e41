/*
 * walformat.h — the on-disk WAL layout of PostgreSQL 12-17, as constants.
 *
 * Written from the format descriptions in PostgreSQL's xlogrecord.h and
 * xlog_internal.h. Everything is little-endian on the platforms segsync
 * supports, and MAXALIGN is 8. Only the WAL reader includes this file.
 */
#ifndef SEGSYNC_PG_WALFORMAT_H
#define SEGSYNC_PG_WALFORMAT_H

#include <stdint.h>
#include <string.h>

/* Page header: magic u16, info u16, tli u32, pageaddr u64, rem_len u32,
 * padded to 24; the long header adds sysid u64, seg_size u32, blcksz u32. */
#define SS_XLP_SHORT_SIZE   24u
#define SS_XLP_LONG_SIZE    40u

#define SS_XLP_FIRST_IS_CONTRECORD      0x0001u
#define SS_XLP_LONG_HEADER              0x0002u
#define SS_XLP_BKP_REMOVABLE            0x0004u
/* Set on the page where a record lost at crash was overwritten by a new
 * timeline of WAL (PostgreSQL 15, back-patched to older minors). */
#define SS_XLP_FIRST_IS_OVERWRITE_CONTRECORD 0x0008u
#define SS_XLP_ALL_FLAGS                0x000Fu

/* Record header: tot_len u32, xid u32, prev u64, info u8, rmid u8, 2 pad,
 * crc u32. The CRC covers the bytes after the header, then the header up
 * to (not including) the CRC field. */
#define SS_XLR_HEADER_SIZE  24u
#define SS_XLR_CRC_OFFSET   20u

#define SS_XLR_MAX_BLOCK_ID         32u
#define SS_XLR_BLOCK_ID_DATA_SHORT  255u
#define SS_XLR_BLOCK_ID_DATA_LONG   254u
#define SS_XLR_BLOCK_ID_ORIGIN      253u
#define SS_XLR_BLOCK_ID_TOPLEVEL_XID 252u /* 14+ */

#define SS_BKPBLOCK_FORK_MASK   0x0Fu
#define SS_BKPBLOCK_HAS_IMAGE   0x10u
#define SS_BKPBLOCK_HAS_DATA    0x20u
#define SS_BKPBLOCK_WILL_INIT   0x40u
#define SS_BKPBLOCK_SAME_REL    0x80u

/* bimg_info bits: the meaning of bits 1.. changed in PostgreSQL 15. */
#define SS_BKPIMAGE_HAS_HOLE            0x01u
#define SS_BKPIMAGE_V12_IS_COMPRESSED   0x02u  /* 12-14: pglz */
#define SS_BKPIMAGE_V12_APPLY           0x04u
#define SS_BKPIMAGE_V15_APPLY           0x02u  /* 15+ */
#define SS_BKPIMAGE_V15_COMPRESS_PGLZ   0x04u
#define SS_BKPIMAGE_V15_COMPRESS_LZ4    0x08u
#define SS_BKPIMAGE_V15_COMPRESS_ZSTD   0x10u

/* Resource manager 0 and its segment-switch record, which makes the reader
 * skip to the next segment. */
#define SS_RM_XLOG_ID       0u
#define SS_XLOG_SWITCH      0x40u
#define SS_XLR_RMGR_INFO_MASK 0xF0u
#define SS_RM_MAX_BUILTIN   21u
#define SS_RM_MIN_CUSTOM    128u   /* 15+: custom rmgrs 128..255 */

/* The largest record PostgreSQL writes (XLogRecordMaxSize, 16+); older
 * versions are bounded by their 1 GB allocation limit, which is close. */
#define SS_XLR_MAX_TOTAL_LEN (1020u * 1024u * 1024u)

static inline uint64_t ss_maxalign(uint64_t v) { return (v + 7u) & ~(uint64_t)7u; }

static inline uint16_t ss_rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t ss_rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t ss_rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

#endif
