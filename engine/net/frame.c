#include "engine/net/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ss_frame_dec_init(ss_frame_dec *d, uint32_t max)
{
    memset(d, 0, sizeof *d);
    d->max = (max == 0 || max > SS_FRAME_MAX_PAYLOAD) ? SS_FRAME_MAX_PAYLOAD : max;
}

void ss_frame_dec_free(ss_frame_dec *d)
{
    free(d->buf);
    d->buf = NULL;
    d->cap = d->have = 0;
}

static int fail(ss_frame_dec *d, ss_err *err, const char *what, unsigned long a,
                unsigned long b)
{
    d->failed = 1;
    return ss_seterr(err, SS_EPROTO, 0, what, a, b);
}

/* Grow geometrically towards the announced length, never past it. */
static int grow(ss_frame_dec *d, size_t need, ss_err *err)
{
    if (need <= d->cap)
        return 0;
    size_t cap = d->cap ? d->cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > d->len)
        cap = d->len;
    uint8_t *p = realloc(d->buf, cap);
    if (!p) {
        d->failed = 1;
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot allocate a %u-byte frame", d->len);
    }
    d->buf = p;
    d->cap = cap;
    return 0;
}

int ss_frame_dec_feed(ss_frame_dec *d, const void *data, size_t len, size_t *used,
                      ss_frame *out, ss_err *err)
{
    const uint8_t *in = data;
    size_t pos = 0;
    *used = 0;
    if (d->failed)
        return ss_seterr(err, SS_EPROTO, 0, "frame decoder used after a protocol error");
    if (d->ready) {
        d->ready = 0;
        d->hdr_have = 0;
        d->have = 0;
    }
    while (d->hdr_have < SS_FRAME_HDR) {
        if (pos == len)
            return 0;
        d->hdr[d->hdr_have++] = in[pos++];
        *used = pos;
        if (d->hdr_have < SS_FRAME_HDR)
            continue;
        d->len = (uint32_t)d->hdr[0] << 24 | (uint32_t)d->hdr[1] << 16 |
                 (uint32_t)d->hdr[2] << 8 | d->hdr[3];
        if (d->len > d->max)
            return fail(d, err, "frame of %lu bytes is larger than the limit of %lu bytes",
                        d->len, d->max);
        if (d->hdr[5] != 0)
            return fail(d, err, "frame of type %lu has unknown flags 0x%02lx", d->hdr[4],
                        d->hdr[5]);
    }
    size_t want = d->len - d->have;
    size_t take = len - pos < want ? len - pos : want;
    if (take) {
        if (grow(d, d->have + take, err) < 0)
            return -1;
        memcpy(d->buf + d->have, in + pos, take);
        d->have += take;
        pos += take;
        *used = pos;
    }
    if (d->have < d->len)
        return 0;
    d->ready = 1;
    out->type = d->hdr[4];
    out->flags = d->hdr[5];
    out->len = d->len;
    out->payload = d->len ? d->buf : (const uint8_t *)"";
    return 1;
}

int ss_frame_dec_eof(const ss_frame_dec *d, ss_err *err)
{
    if (d->ready || (d->hdr_have == 0 && d->have == 0))
        return 0;
    if (d->hdr_have < SS_FRAME_HDR)
        return ss_seterr(err, SS_EPROTO, 0,
                         "connection ended inside a frame header (%zu of %d bytes)",
                         d->hdr_have, SS_FRAME_HDR);
    return ss_seterr(err, SS_EPROTO, 0,
                     "truncated frame: connection ended after %zu of %u payload bytes",
                     d->have, d->len);
}

size_t ss_frame_begin(ss_wbuf *w, uint8_t type)
{
    size_t at = w->len;
    ss_wbuf_u32(w, 0);
    ss_wbuf_u8(w, type);
    ss_wbuf_u8(w, 0);
    return at;
}

int ss_frame_end(ss_wbuf *w, size_t at, ss_err *err)
{
    return ss_frame_end_tail(w, at, 0, err);
}

int ss_frame_end_tail(ss_wbuf *w, size_t at, size_t tail, ss_err *err)
{
    if (w->bad || at > w->len || w->len - at < SS_FRAME_HDR)
        return ss_seterr(err, SS_EINTERNAL, 0,
                         "cannot encode message: out of memory or over the size limit");
    size_t plen = w->len - at - SS_FRAME_HDR;
    if (plen > SS_FRAME_MAX_PAYLOAD || tail > SS_FRAME_MAX_PAYLOAD - plen)
        return ss_seterr(err, SS_EINTERNAL, 0,
                         "message of %zu bytes is larger than the frame limit", plen + tail);
    plen += tail;
    ss_wbuf_patch_u32(w, at, (uint32_t)plen);
    return 0;
}

int ss_frame_put(ss_wbuf *w, uint8_t type, const void *payload, size_t len, ss_err *err)
{
    size_t at = ss_frame_begin(w, type);
    ss_wbuf_bytes(w, payload, len);
    return ss_frame_end(w, at, err);
}
