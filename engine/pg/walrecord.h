/*
 * walrecord.h — one decoded WAL record of PostgreSQL 12-17.
 *
 * ss_wal_decode takes the bytes of one whole record (already reassembled
 * across pages), checks its CRC-32C and every length it carries against the
 * record's own size, and fills an ss_wal_record whose pointers point into
 * those bytes. It never reads outside them, whatever they contain.
 */
#ifndef SEGSYNC_PG_WALRECORD_H
#define SEGSYNC_PG_WALRECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/error.h"

typedef uint64_t ss_lsn;
/* printf an LSN as PostgreSQL does: printf("%X/%08X", SS_LSN_ARGS(lsn)). */
#define SS_LSN_FMT "%X/%08X"
#define SS_LSN_ARGS(l) (unsigned)((uint64_t)(l) >> 32), (unsigned)((uint64_t)(l) & 0xFFFFFFFFu)

#define SS_WAL_MAX_BLOCKS 33   /* block ids 0..32 */

typedef enum {
    SS_WAL_IMG_PLAIN = 0,
    SS_WAL_IMG_PGLZ,
    SS_WAL_IMG_LZ4,
    SS_WAL_IMG_ZSTD
} ss_wal_img_method;

/* A page the record touches ("block reference"). */
typedef struct {
    uint8_t block_id;         /* 0..32, strictly increasing in a record */
    uint8_t forknum;          /* 0 main, 1 fsm, 2 vm, 3 init */
    uint32_t spcoid, dboid, relnode;
    uint32_t blkno;
    bool has_image;           /* a full-page image is included */
    bool apply_image;         /* ...and redo restores it (not only for checking) */
    bool has_data;
    bool will_init;           /* redo re-initialises the page */
    ss_wal_img_method img_method;
    uint16_t img_len;         /* bytes of image stored in the record */
    uint16_t hole_offset, hole_length;
    const uint8_t *image;     /* img_len bytes, or NULL */
    const uint8_t *data;      /* data_len bytes, or NULL */
    uint16_t data_len;
} ss_wal_block_ref;

typedef struct {
    ss_lsn lsn;               /* where the record starts */
    ss_lsn end_lsn;           /* where the next record starts (MAXALIGNed) */
    ss_lsn prev;              /* xl_prev */
    uint32_t xid;
    uint32_t tot_len;
    uint8_t rmid;
    uint8_t info;             /* xl_info, all bits */
    bool has_origin;
    uint16_t origin;
    uint32_t toplevel_xid;    /* 0 when absent */
    const uint8_t *main_data;
    uint32_t main_data_len;
    int nblocks;
    ss_wal_block_ref blocks[SS_WAL_MAX_BLOCKS];
    const uint8_t *raw;       /* the whole record, tot_len bytes */
} ss_wal_record;

/* Check the fixed 24-byte header at `lsn` before the rest is read:
 * xl_tot_len at least the header and at most the WAL maximum, a resource
 * manager that exists in pg_major, and xl_prev equal to expect_prev (or, when
 * expect_prev is 0, merely before lsn). Returns 0 or -1 with err set. */
int ss_wal_check_header(const uint8_t hdr[24], int pg_major, ss_lsn lsn,
                        ss_lsn expect_prev, ss_err *err);

/* Decode the len bytes of the record at lsn (len must equal its xl_tot_len)
 * for PostgreSQL pg_major (12..17) with data pages of block_size bytes.
 * Checks the CRC first. Fills out (end_lsn is left to the caller). */
int ss_wal_decode(const uint8_t *rec, uint32_t len, int pg_major,
                  uint32_t block_size, ss_lsn lsn, ss_wal_record *out,
                  ss_err *err);

/* The PostgreSQL major version (12..17) whose WAL pages carry this magic,
 * or 0 if none does. And the reverse (0 for an unknown version). */
int ss_wal_magic_version(uint16_t magic);
uint16_t ss_wal_version_magic(int pg_major);

#endif
