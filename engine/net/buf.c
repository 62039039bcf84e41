#include "engine/net/buf.h"

#include <stdlib.h>
#include <string.h>

void ss_rbuf_init(ss_rbuf *r, const void *p, size_t len)
{
    r->p = p;
    r->len = p ? len : 0;
    r->pos = 0;
    r->bad = 0;
}

/* The one place that decides whether n more bytes exist. */
static int take(ss_rbuf *r, size_t n, const uint8_t **at)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return -1;
    }
    *at = r->p + r->pos;
    r->pos += n;
    return 0;
}

int ss_rbuf_u8(ss_rbuf *r, uint8_t *v)
{
    const uint8_t *b;
    if (take(r, 1, &b) < 0)
        return -1;
    *v = b[0];
    return 0;
}

int ss_rbuf_u16(ss_rbuf *r, uint16_t *v)
{
    const uint8_t *b;
    if (take(r, 2, &b) < 0)
        return -1;
    *v = (uint16_t)((unsigned)b[0] << 8 | b[1]);
    return 0;
}

int ss_rbuf_u32(ss_rbuf *r, uint32_t *v)
{
    const uint8_t *b;
    if (take(r, 4, &b) < 0)
        return -1;
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return 0;
}

int ss_rbuf_u64(ss_rbuf *r, uint64_t *v)
{
    uint32_t hi, lo;
    if (ss_rbuf_u32(r, &hi) < 0 || ss_rbuf_u32(r, &lo) < 0)
        return -1;
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

int ss_rbuf_bytes(ss_rbuf *r, void *out, size_t n)
{
    const uint8_t *b;
    if (take(r, n, &b) < 0)
        return -1;
    if (n)
        memcpy(out, b, n);
    return 0;
}

int ss_rbuf_ref(ss_rbuf *r, const void **out, size_t n)
{
    const uint8_t *b;
    if (take(r, n, &b) < 0)
        return -1;
    *out = b;
    return 0;
}

int ss_rbuf_str(ss_rbuf *r, size_t max, const char **s, size_t *n)
{
    uint16_t len;
    const uint8_t *b;
    size_t save = r->pos;
    if (ss_rbuf_u16(r, &len) < 0)
        return -1;
    if (len > max || take(r, len, &b) < 0 || memchr(b, 0, len)) {
        r->pos = save;
        r->bad = 1;
        return -1;
    }
    *s = (const char *)b;
    *n = len;
    return 0;
}

void ss_wbuf_init(ss_wbuf *w, size_t max)
{
    memset(w, 0, sizeof *w);
    w->max = max;
}

void ss_wbuf_free(ss_wbuf *w)
{
    free(w->p);
    w->p = NULL;
    w->len = w->cap = 0;
}

void ss_wbuf_reset(ss_wbuf *w)
{
    w->len = 0;
    w->bad = 0;
}

int ss_wbuf_reserve(ss_wbuf *w, size_t n)
{
    if (w->bad)
        return -1;
    if (n > w->max || w->len > w->max - n) {
        w->bad = 1;
        return -1;
    }
    if (w->len + n <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : (w->max < 256 ? w->max : 256);
    while (cap < w->len + n)
        cap = cap > w->max / 2 ? w->max : cap * 2;
    uint8_t *p = realloc(w->p, cap);
    if (!p) {
        w->bad = 1;
        return -1;
    }
    w->p = p;
    w->cap = cap;
    return 0;
}

int ss_wbuf_bytes(ss_wbuf *w, const void *p, size_t n)
{
    if (ss_wbuf_reserve(w, n) < 0)
        return -1;
    if (n)
        memcpy(w->p + w->len, p, n);
    w->len += n;
    return 0;
}

int ss_wbuf_u8(ss_wbuf *w, uint8_t v)
{
    return ss_wbuf_bytes(w, &v, 1);
}

int ss_wbuf_u16(ss_wbuf *w, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    return ss_wbuf_bytes(w, b, 2);
}

int ss_wbuf_u32(ss_wbuf *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    return ss_wbuf_bytes(w, b, 4);
}

int ss_wbuf_u64(ss_wbuf *w, uint64_t v)
{
    if (ss_wbuf_u32(w, (uint32_t)(v >> 32)) < 0)
        return -1;
    return ss_wbuf_u32(w, (uint32_t)v);
}

int ss_wbuf_str(ss_wbuf *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > UINT16_MAX) {
        w->bad = 1;
        return -1;
    }
    if (ss_wbuf_u16(w, (uint16_t)n) < 0)
        return -1;
    return ss_wbuf_bytes(w, s, n);
}

void ss_wbuf_patch_u32(ss_wbuf *w, size_t at, uint32_t v)
{
    if (w->bad || at > w->len || w->len - at < 4)
        return;
    w->p[at] = (uint8_t)(v >> 24);
    w->p[at + 1] = (uint8_t)(v >> 16);
    w->p[at + 2] = (uint8_t)(v >> 8);
    w->p[at + 3] = (uint8_t)v;
}
