/* crc32c.c — CRC-32C. On x86-64 with SSE4.2 (every machine PostgreSQL
 * clusters of this size run on) the CPU's crc32 instruction does the work,
 * eight bytes per step; elsewhere a byte-wise table, built at compile time
 * by a constant generator, so there is no init call and no mutable state. */
#include "engine/pg/crc32c.h"

#include <string.h>

#define POLY 0x82F63B78u
#define S1(c) (((c) & 1) ? ((c) >> 1) ^ POLY : (c) >> 1)
#define S8(c) S1(S1(S1(S1(S1(S1(S1(S1(c))))))))
#define T1(n) S8((uint32_t)(n))
#define R4(n) T1(n), T1(n + 1), T1(n + 2), T1(n + 3)
#define R16(n) R4(n), R4(n + 4), R4(n + 8), R4(n + 12)
#define R64(n) R16(n), R16(n + 16), R16(n + 32), R16(n + 48)
static const uint32_t table[256] = { R64(0), R64(64), R64(128), R64(192) };

static uint32_t crc_bytes(uint32_t crc, const unsigned char *p, size_t len)
{
    while (len--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p, size_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    crc = (uint32_t)c;
    while (len--)
        crc = __builtin_ia32_crc32qi(crc, *p++);
    return crc;
}

uint32_t ss_crc32c_update(uint32_t crc, const void *data, size_t len)
{
    if (__builtin_cpu_supports("sse4.2"))
        return crc_hw(crc, data, len);
    return crc_bytes(crc, data, len);
}
#else
uint32_t ss_crc32c_update(uint32_t crc, const void *data, size_t len)
{
    return crc_bytes(crc, data, len);
}
#endif

uint32_t ss_crc32c(const void *data, size_t len)
{
    return ss_crc32c_final(ss_crc32c_update(SS_CRC32C_INIT, data, len));
}
