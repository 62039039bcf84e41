/* walrecord.c — decode one reassembled WAL record, trusting nothing in it.
 *
 * Every field read goes through a cursor that knows how many bytes remain,
 * so a record that lies about its lengths is reported, never over-read. */
#include "engine/pg/walrecord.h"

#include <string.h>

#include "engine/pg/crc32c.h"
#include "engine/pg/walformat.h"

static const struct { int major; uint16_t magic; } versions[] = {
    { 12, 0xD101 }, { 13, 0xD106 }, { 14, 0xD10D },
    { 15, 0xD110 }, { 16, 0xD113 }, { 17, 0xD116 },
};

int ss_wal_magic_version(uint16_t magic)
{
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
        if (versions[i].magic == magic)
            return versions[i].major;
    return 0;
}

uint16_t ss_wal_version_magic(int pg_major)
{
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
        if (versions[i].major == pg_major)
            return versions[i].magic;
    return 0;
}

static bool rmid_valid(int pg_major, uint8_t rmid)
{
    if (rmid <= SS_RM_MAX_BUILTIN)
        return true;
    return pg_major >= 15 && rmid >= SS_RM_MIN_CUSTOM;
}

int ss_wal_check_header(const uint8_t hdr[24], int pg_major, ss_lsn lsn,
                        ss_lsn expect_prev, ss_err *err)
{
    uint32_t tot = ss_rd32(hdr);
    ss_lsn prev = ss_rd64(hdr + 8);
    uint8_t rmid = hdr[17];

    if (tot < SS_XLR_HEADER_SIZE || tot > SS_XLR_MAX_TOTAL_LEN)
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "WAL record at " SS_LSN_FMT ": invalid length %u",
                         SS_LSN_ARGS(lsn), tot);
    if (!rmid_valid(pg_major, rmid))
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "WAL record at " SS_LSN_FMT ": invalid resource manager id %u",
                         SS_LSN_ARGS(lsn), rmid);
    if (expect_prev ? prev != expect_prev : prev >= lsn)
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "WAL record at " SS_LSN_FMT ": incorrect prev-link " SS_LSN_FMT,
                         SS_LSN_ARGS(lsn), SS_LSN_ARGS(prev));
    return 0;
}

/* A bounded reader over the record's header area. */
typedef struct {
    const uint8_t *p;
    uint32_t left;
} cursor;

static bool take(cursor *c, void *dst, uint32_t n)
{
    if (c->left < n)
        return false;
    memcpy(dst, c->p, n);
    c->p += n;
    c->left -= n;
    return true;
}

#define BAD(...) ss_seterr(err, SS_ECLUSTER, 0, "WAL record at " SS_LSN_FMT ": " __VA_ARGS__)

/* Read the bimg_info byte according to the version's bit layout. */
static int image_flags(uint8_t info, int pg_major, ss_wal_block_ref *b,
                       bool *has_hole)
{
    *has_hole = info & SS_BKPIMAGE_HAS_HOLE;
    if (pg_major >= 15) {
        b->apply_image = info & SS_BKPIMAGE_V15_APPLY;
        unsigned m = info & (SS_BKPIMAGE_V15_COMPRESS_PGLZ | SS_BKPIMAGE_V15_COMPRESS_LZ4 |
                             SS_BKPIMAGE_V15_COMPRESS_ZSTD);
        switch (m) {
        case 0: b->img_method = SS_WAL_IMG_PLAIN; break;
        case SS_BKPIMAGE_V15_COMPRESS_PGLZ: b->img_method = SS_WAL_IMG_PGLZ; break;
        case SS_BKPIMAGE_V15_COMPRESS_LZ4: b->img_method = SS_WAL_IMG_LZ4; break;
        case SS_BKPIMAGE_V15_COMPRESS_ZSTD: b->img_method = SS_WAL_IMG_ZSTD; break;
        default: return -1;  /* two methods at once */
        }
    } else {
        b->apply_image = info & SS_BKPIMAGE_V12_APPLY;
        b->img_method = (info & SS_BKPIMAGE_V12_IS_COMPRESSED) ? SS_WAL_IMG_PGLZ
                                                               : SS_WAL_IMG_PLAIN;
    }
    return 0;
}

/* Parse an image header and check its lengths the way PostgreSQL's redo
 * would rely on them: a hole only with a real offset and length, a plain
 * image without a hole is exactly one block, a compressed one is smaller. */
static int decode_image(cursor *c, int pg_major, uint32_t block_size,
                        ss_lsn lsn, ss_wal_block_ref *b, ss_err *err)
{
    uint8_t ih[5];
    if (!take(c, ih, sizeof ih))
        return BAD("truncated block image header", SS_LSN_ARGS(lsn));
    b->img_len = ss_rd16(ih);
    b->hole_offset = ss_rd16(ih + 2);
    bool has_hole;
    if (image_flags(ih[4], pg_major, b, &has_hole) < 0)
        return BAD("block %u: bad image flags 0x%02x", SS_LSN_ARGS(lsn),
                   b->block_id, ih[4]);
    bool compressed = b->img_method != SS_WAL_IMG_PLAIN;
    if (has_hole && compressed) {
        uint8_t hl[2];
        if (!take(c, hl, 2))
            return BAD("truncated block image header", SS_LSN_ARGS(lsn));
        b->hole_length = ss_rd16(hl);
    } else if (has_hole) {
        b->hole_length = b->img_len < block_size ? (uint16_t)(block_size - b->img_len) : 0;
    } else {
        b->hole_length = 0;
    }
    if (has_hole && (b->hole_offset == 0 || b->hole_length == 0 || b->img_len == block_size))
        return BAD("block %u: image hole offset %u length %u, image length %u",
                   SS_LSN_ARGS(lsn), b->block_id, b->hole_offset, b->hole_length, b->img_len);
    if (!has_hole && b->hole_offset != 0)
        return BAD("block %u: image without hole has hole offset %u",
                   SS_LSN_ARGS(lsn), b->block_id, b->hole_offset);
    if ((uint32_t)b->hole_offset + b->hole_length > block_size)
        return BAD("block %u: image hole %u+%u beyond block size %u", SS_LSN_ARGS(lsn),
                   b->block_id, b->hole_offset, b->hole_length, block_size);
    if (compressed && b->img_len >= block_size)
        return BAD("block %u: compressed image length %u", SS_LSN_ARGS(lsn),
                   b->block_id, b->img_len);
    if (!compressed && b->img_len + (uint32_t)b->hole_length != block_size)
        return BAD("block %u: image length %u with hole %u is not block size %u",
                   SS_LSN_ARGS(lsn), b->block_id, b->img_len, b->hole_length, block_size);
    if (b->img_len == 0)
        return BAD("block %u: empty image", SS_LSN_ARGS(lsn), b->block_id);
    return 0;
}

int ss_wal_decode(const uint8_t *rec, uint32_t len, int pg_major,
                  uint32_t block_size, ss_lsn lsn, ss_wal_record *out,
                  ss_err *err)
{
    if (len < SS_XLR_HEADER_SIZE || ss_rd32(rec) != len)
        return BAD("length %u does not match its header", SS_LSN_ARGS(lsn), len);

    uint32_t crc = ss_crc32c_update(SS_CRC32C_INIT, rec + SS_XLR_HEADER_SIZE,
                                    len - SS_XLR_HEADER_SIZE);
    crc = ss_crc32c_final(ss_crc32c_update(crc, rec, SS_XLR_CRC_OFFSET));
    if (crc != ss_rd32(rec + SS_XLR_CRC_OFFSET))
        return BAD("incorrect CRC (computed %08X, stored %08X)", SS_LSN_ARGS(lsn),
                   crc, ss_rd32(rec + SS_XLR_CRC_OFFSET));

    memset(out, 0, sizeof *out);
    out->lsn = lsn;
    out->tot_len = len;
    out->xid = ss_rd32(rec + 4);
    out->prev = ss_rd64(rec + 8);
    out->info = rec[16];
    out->rmid = rec[17];
    out->raw = rec;

    /* Headers first: block headers, optional origin/xid, then at most one
     * main-data header. `payload` sums what the headers promise follows. */
    cursor c = { rec + SS_XLR_HEADER_SIZE, len - SS_XLR_HEADER_SIZE };
    uint64_t payload = 0;
    int last_id = -1;
    const ss_wal_block_ref *last_rel = NULL;

    while (c.left > payload) {
        uint8_t id;
        take(&c, &id, 1);
        if (id == SS_XLR_BLOCK_ID_DATA_SHORT) {
            uint8_t l;
            if (!take(&c, &l, 1))
                return BAD("truncated main data header", SS_LSN_ARGS(lsn));
            out->main_data_len = l;
            payload += l;
            break;
        } else if (id == SS_XLR_BLOCK_ID_DATA_LONG) {
            uint8_t l[4];
            if (!take(&c, l, 4))
                return BAD("truncated main data header", SS_LSN_ARGS(lsn));
            out->main_data_len = ss_rd32(l);
            payload += out->main_data_len;
            break;
        } else if (id == SS_XLR_BLOCK_ID_ORIGIN) {
            uint8_t o[2];
            if (!take(&c, o, 2))
                return BAD("truncated origin", SS_LSN_ARGS(lsn));
            out->has_origin = true;
            out->origin = ss_rd16(o);
        } else if (id == SS_XLR_BLOCK_ID_TOPLEVEL_XID && pg_major >= 14) {
            uint8_t x[4];
            if (!take(&c, x, 4))
                return BAD("truncated top-level xid", SS_LSN_ARGS(lsn));
            out->toplevel_xid = ss_rd32(x);
        } else if (id <= SS_XLR_MAX_BLOCK_ID) {
            if ((int)id <= last_id)
                return BAD("out-of-order block id %u", SS_LSN_ARGS(lsn), id);
            last_id = id;
            ss_wal_block_ref *b = &out->blocks[out->nblocks++];
            b->block_id = id;
            uint8_t bh[3];
            if (!take(&c, bh, 3))
                return BAD("truncated block %u header", SS_LSN_ARGS(lsn), id);
            uint8_t ff = bh[0];
            b->forknum = ff & SS_BKPBLOCK_FORK_MASK;
            b->has_image = ff & SS_BKPBLOCK_HAS_IMAGE;
            b->has_data = ff & SS_BKPBLOCK_HAS_DATA;
            b->will_init = ff & SS_BKPBLOCK_WILL_INIT;
            b->data_len = ss_rd16(bh + 1);
            if (b->has_data != (b->data_len != 0))
                return BAD("block %u: data flag %d with data length %u",
                           SS_LSN_ARGS(lsn), id, b->has_data, b->data_len);
            payload += b->data_len;
            if (b->has_image) {
                if (decode_image(&c, pg_major, block_size, lsn, b, err) < 0)
                    return -1;
                payload += b->img_len;
            }
            if (!(ff & SS_BKPBLOCK_SAME_REL)) {
                uint8_t r[12];
                if (!take(&c, r, 12))
                    return BAD("truncated block %u relation", SS_LSN_ARGS(lsn), id);
                b->spcoid = ss_rd32(r);
                b->dboid = ss_rd32(r + 4);
                b->relnode = ss_rd32(r + 8);
                last_rel = b;
            } else {
                if (!last_rel)
                    return BAD("block %u: same relation as a previous block, but none",
                               SS_LSN_ARGS(lsn), id);
                b->spcoid = last_rel->spcoid;
                b->dboid = last_rel->dboid;
                b->relnode = last_rel->relnode;
            }
            uint8_t bn[4];
            if (!take(&c, bn, 4))
                return BAD("truncated block %u number", SS_LSN_ARGS(lsn), id);
            b->blkno = ss_rd32(bn);
        } else {
            return BAD("invalid block id %u", SS_LSN_ARGS(lsn), id);
        }
    }
    if (c.left != payload)
        return BAD("headers promise %llu data bytes, %u remain", SS_LSN_ARGS(lsn),
                   (unsigned long long)payload, c.left);

    /* Payloads follow in block order (image, then data), main data last. */
    const uint8_t *p = c.p;
    for (int i = 0; i < out->nblocks; i++) {
        ss_wal_block_ref *b = &out->blocks[i];
        if (b->has_image) {
            b->image = p;
            p += b->img_len;
        }
        if (b->has_data) {
            b->data = p;
            p += b->data_len;
        }
    }
    if (out->main_data_len)
        out->main_data = p;
    return 0;
}
