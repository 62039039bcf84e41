/* crc32c.c — table-driven CRC-32C, eight bytes per step; tables are built
 * at compile time by a constant generator so there is no init call and no
 * mutable global state. */
#include "engine/pg/crc32c.h"

#include <string.h>

#define POLY 0x82F63B78u
#define S1(c) (((c) & 1) ? ((c) >> 1) ^ POLY : (c) >> 1)
#define S8(c) S1(S1(S1(S1(S1(S1(S1(S1(c))))))))

#define T1(n) S8((uint32_t)(n))
#define R4(n) T1(n), T1(n + 1), T1(n + 2), T1(n + 3)
#define R16(n) R4(n), R4(n + 4), R4(n + 8), R4(n + 12)
#define R64(n) R16(n), R16(n + 16), R16(n + 32), R16(n + 48)
static const uint32_t t0[256] = { R64(0), R64(64), R64(128), R64(192) };
#undef T1

/* t[k][n] = crc of byte n followed by k zero bytes. */
#define NEXT(tab, n) ((tab[n] >> 8) ^ t0[tab[n] & 0xff])

#define T1(n) NEXT(t0, n)
static const uint32_t t1[256] = { R64(0), R64(64), R64(128), R64(192) };
#undef T1
#define T1(n) NEXT(t1, n)
static const uint32_t t2[256] = { R64(0), R64(64), R64(128), R64(192) };
#undef T1
#define T1(n) NEXT(t2, n)
static const uint32_t t3[256] = { R64(0), R64(64), R64(128), R64(192) };
#undef T1
#define T1(n) NEXT(t3, n)
static const uint32_t t4[256] = { R64(0), R64(64), R64(128), R64(192) };
#undef T1
#define T1(n) NEXT(t4, n)
static const uint32_t t5[256] = { R64(0), R64(64), R64(128), R64(192) };
#undef T1
#define T1(n) NEXT(t5, n)
static const uint32_t t6[256] = { R64(0), R64(64), R64(128), R64(192) };
#undef T1
#define T1(n) NEXT(t6, n)
static const uint32_t t7[256] = { R64(0), R64(64), R64(128), R64(192) };
#undef T1

uint32_t ss_crc32c_update(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len >= 8) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + 4, 4);
        a ^= crc;   /* little-endian, as on every platform we build for */
        crc = t7[a & 0xff] ^ t6[(a >> 8) & 0xff] ^ t5[(a >> 16) & 0xff] ^ t4[a >> 24] ^
              t3[b & 0xff] ^ t2[(b >> 8) & 0xff] ^ t1[(b >> 16) & 0xff] ^ t0[b >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = t0[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

uint32_t ss_crc32c(const void *data, size_t len)
{
    return ss_crc32c_final(ss_crc32c_update(SS_CRC32C_INIT, data, len));
}
