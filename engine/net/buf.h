/*
 * buf.h — bounds-checked byte buffers for the wire protocol.
 *
 * ss_rbuf reads big-endian integers, byte runs and strings out of a fixed
 * span of memory (a received frame). Every get checks the bytes that remain
 * first; a failed get leaves the output untouched and returns -1, and sets
 * `bad`, so a decoder can also run a sequence of gets and check once.
 *
 * ss_wbuf appends to a growable heap buffer with a hard ceiling (`max`):
 * a put that would pass it fails instead of allocating. A failed put sets
 * `bad` and every later put is a no-op, so an encoder can check once.
 *
 * Wire conventions (docs/protocol.md): integers are big-endian; a string is
 * a u16 byte count followed by that many bytes, no terminator, no NUL.
 */
#ifndef SEGSYNC_NET_BUF_H
#define SEGSYNC_NET_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *p;
    size_t len;             /* bytes in p */
    size_t pos;             /* next byte to read */
    int bad;                /* a get ran past the end */
} ss_rbuf;

void ss_rbuf_init(ss_rbuf *r, const void *p, size_t len);
static inline size_t ss_rbuf_left(const ss_rbuf *r)
{
    return r->len - r->pos;
}
int ss_rbuf_u8(ss_rbuf *r, uint8_t *v);
int ss_rbuf_u16(ss_rbuf *r, uint16_t *v);
int ss_rbuf_u32(ss_rbuf *r, uint32_t *v);
int ss_rbuf_u64(ss_rbuf *r, uint64_t *v);
/* Copy n bytes out. */
int ss_rbuf_bytes(ss_rbuf *r, void *out, size_t n);
/* Point *out at the next n bytes (no copy) and step over them. */
int ss_rbuf_ref(ss_rbuf *r, const void **out, size_t n);
/* A u16-counted string: fails when it is longer than max or holds a NUL.
 * *s points into the buffer (not terminated); *n is its length. */
int ss_rbuf_str(ss_rbuf *r, size_t max, const char **s, size_t *n);

typedef struct {
    uint8_t *p;
    size_t len;             /* bytes written */
    size_t cap;             /* bytes allocated */
    size_t max;             /* never grow past this */
    int bad;                /* a put failed (ceiling or out of memory) */
} ss_wbuf;

void ss_wbuf_init(ss_wbuf *w, size_t max);
void ss_wbuf_free(ss_wbuf *w);
/* Forget the contents, keep the memory and the ceiling; clears `bad`. */
void ss_wbuf_reset(ss_wbuf *w);
/* Make room for n more bytes. */
int ss_wbuf_reserve(ss_wbuf *w, size_t n);
int ss_wbuf_u8(ss_wbuf *w, uint8_t v);
int ss_wbuf_u16(ss_wbuf *w, uint16_t v);
int ss_wbuf_u32(ss_wbuf *w, uint32_t v);
int ss_wbuf_u64(ss_wbuf *w, uint64_t v);
int ss_wbuf_bytes(ss_wbuf *w, const void *p, size_t n);
/* A u16-counted string (s may be NULL for an empty string). Fails when
 * strlen(s) > 65535. */
int ss_wbuf_str(ss_wbuf *w, const char *s);
/* Overwrite 4 bytes at `at` (a length patched in after the body). */
void ss_wbuf_patch_u32(ss_wbuf *w, size_t at, uint32_t v);

#endif
