/* fuzz_wal — arbitrary bytes as WAL, through the page and record decoders.
 *
 * Byte 0 picks the page size, the PostgreSQL version (or detection) and
 * the segment size (1 MiB, or 16 MiB so that the start of a real segment
 * 000000010000000000000001 can be a seed as it is);
 * byte 1 splits the rest in two: the first part is the end (or start) of segment 1,
 * the second the start of segment 2, so page headers, continuations and the
 * segment crossing are all reachable from small inputs. The reader must end
 * or fail cleanly on anything; the record decoder is also fed the raw bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pg/crc32c.h"
#include "engine/pg/walreader.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const uint32_t pages[4] = { 1024, 8192, 32768, 65536 };
    static const int majors[8] = { 0, 12, 13, 14, 15, 16, 17, 0 };
    uint32_t page = pages[data[0] & 3];
    int major = majors[(data[0] >> 2) & 7];
    uint32_t SEG = (data[0] & 0x20) ? 16u << 20 : 1u << 20;
    size_t split = (size - 2) * data[1] / 255;
    const uint8_t *a = data + 2, *b = data + 2 + split;
    size_t alen = split, blen = size - 2 - split;
    if (alen > SEG)
        alen = SEG;
    if (blen > SEG)
        blen = SEG;

    /* Stand-alone record decoding of the raw bytes; with bit 7 the length
     * and CRC are made right first, so that mutations reach the block
     * header parser instead of stopping at the CRC check. */
    ss_wal_record rec;
    ss_err err;
    if (size >= 26 && size - 2 < UINT32_MAX) {
        uint32_t n = (uint32_t)(size - 2);
        uint8_t *copy = malloc(n);
        if (!copy)
            return 0;
        memcpy(copy, data + 2, n);
        if (data[0] & 0x80) {
            memcpy(copy, &n, 4);
            uint32_t crc = ss_crc32c_update(SS_CRC32C_INIT, copy + 24, n - 24);
            crc = ss_crc32c_final(ss_crc32c_update(crc, copy, 20));
            memcpy(copy + 20, &crc, 4);
        }
        (void)ss_wal_decode(copy, n, major ? major : 15, 8192, 0x1000000, &rec, &err);
        free(copy);
    }

    /* Part a ends at the end of segment 1, starting on a page boundary, or
     * (bit 6) is the start of segment 1. */
    uint64_t aoff = (data[0] & 0x40) ? 0 : SEG - (alen + page - 1) / page * page;
    ss_wal_memseg segs[2] = {
        { 1, 1, aoff, a, alen },
        { 1, 2, 0, b, blen },
    };
    ss_wal_source src;
    if (ss_wal_source_mem(segs, 2, SEG, &src, &err) < 0)
        return 0;
    ss_wal_reader_config cfg = { .seg_size = SEG, .page_size = page,
                                 .pg_major = major, .tli = 1 };
    ss_wal_reader *r;
    if (ss_wal_reader_open(&cfg, src, &r, &err) < 0)
        return 0;
    ss_lsn first;
    int rc = ss_wal_find_first(r, (ss_lsn)SEG + (alen ? aoff : SEG), &first, &err);
    ss_lsn last = 0;
    for (int n = 0; rc > 0 && n < 100000; n++) {
        rc = ss_wal_read_next(r, &rec, &err);
        if (rc > 0) {
            last = rec.lsn;
            /* Touch everything the record points at. */
            volatile uint8_t sink = 0;
            for (uint32_t i = 0; i < rec.main_data_len; i++)
                sink ^= rec.main_data[i];
            for (int k = 0; k < rec.nblocks; k++) {
                const ss_wal_block_ref *bl = &rec.blocks[k];
                for (uint32_t i = 0; bl->image && i < bl->img_len; i++)
                    sink ^= bl->image[i];
                for (uint32_t i = 0; bl->data && i < bl->data_len; i++)
                    sink ^= bl->data[i];
            }
            (void)sink;
        }
    }
    /* Random access back to the last record and its predecessor. */
    if (last && ss_wal_read_at(r, last, &rec, &err) > 0 && rec.prev)
        (void)ss_wal_read_at(r, rec.prev, &rec, &err);
    ss_wal_reader_free(r);
    return 0;
}
