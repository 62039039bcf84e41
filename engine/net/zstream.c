#include "engine/net/zstream.h"
#include "engine/net/zadapt.h"

#include <errno.h>
#ifdef SS_ZTRACE
#include <stdio.h>
#endif
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>
#include <zstd_errors.h>

int ss_zopt_parse(const char *s, ss_zopt *out, ss_err *err)
{
    if (!s)
        return ss_seterr(err, SS_EUSAGE, 0, "missing compression option");
    if (strcmp(s, "none") == 0) {
        *out = (ss_zopt){ SS_Z_NONE, 0, 0 };
        return 0;
    }
    if (strcmp(s, "zstd") == 0) {
        *out = (ss_zopt){ SS_Z_ZSTD, SS_Z_DEFAULT_LEVEL, 1 };
        return 0;
    }
    if (strncmp(s, "zstd:", 5) == 0) {
        const char *p = s + 5;
        int level = 0;
        if (*p == 0)
            goto bad;
        for (; *p; p++) {
            if (*p < '0' || *p > '9' || level > SS_Z_MAX_LEVEL)
                goto bad;
            level = level * 10 + (*p - '0');
        }
        if (level < 1 || level > SS_Z_MAX_LEVEL)
            goto bad;
        *out = (ss_zopt){ SS_Z_ZSTD, level, 0 };
        return 0;
    }
bad:
    return ss_seterr(err, SS_EUSAGE, 0,
                     "invalid compression \"%s\": expected none, zstd or zstd:LEVEL "
                     "(LEVEL 1..%d)",
                     s, SS_Z_MAX_LEVEL);
}

/* ---- compression ------------------------------------------------------- */

/* How much plain input, and how long, before the adaptive level may move:
 * enough that one slow write or one burst does not swing it. */
#define ADAPT_WINDOW_BYTES (8u << 20)
#define ADAPT_WINDOW_NS (10ull * 1000 * 1000)

struct ss_zenc {
    ss_zmode mode;
    ZSTD_CCtx *cctx;
    uint8_t *out;
    size_t out_size;
    ss_zwrite_fn write;
    void *ctx;
    uint64_t in_bytes, out_bytes;
    int level, adapt;
    /* adaptive: this window's plain bytes, ns compressing, ns writing */
    uint64_t win_in, win_comp_ns, win_write_ns;
    ss_zadapt za;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int ss_zenc_new(ss_zenc **out, const ss_zopt *opt, ss_zwrite_fn write, void *ctx,
                ss_err *err)
{
    *out = NULL;
    ss_zenc *z = calloc(1, sizeof *z);
    if (!z)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot create compressor");
    z->mode = opt->mode;
    z->write = write;
    z->ctx = ctx;
    if (z->mode == SS_Z_ZSTD) {
        z->out_size = ZSTD_CStreamOutSize();
        z->out = malloc(z->out_size);
        z->cctx = ZSTD_createCCtx();
        int level = opt->level < 1 ? 1 : opt->level > SS_Z_MAX_LEVEL ? SS_Z_MAX_LEVEL
                                                                     : opt->level;
        z->level = level;
        z->adapt = opt->adapt;
        ss_zadapt_init(&z->za, level, SS_Z_ADAPT_MIN, SS_Z_ADAPT_MAX);
        if (!z->out || !z->cctx ||
            ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level))) {
            ss_zenc_free(z);
            return ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot create zstd compressor");
        }
    }
    *out = z;
    return 0;
}

static int compress(ss_zenc *z, const void *p, size_t n, ZSTD_EndDirective mode, ss_err *err)
{
    ZSTD_inBuffer in = { p, n, 0 };
    for (;;) {
        ZSTD_outBuffer o = { z->out, z->out_size, 0 };
        uint64_t t0 = z->adapt ? now_ns() : 0;
        size_t ret = ZSTD_compressStream2(z->cctx, &o, &in, mode);
        if (ZSTD_isError(ret))
            return ss_seterr(err, SS_EINTERNAL, 0, "zstd compression failed: %s",
                             ZSTD_getErrorName(ret));
        uint64_t t1 = z->adapt ? now_ns() : 0;
        if (o.pos) {
            if (z->write(z->ctx, z->out, o.pos, err) < 0)
                return -1;
            z->out_bytes += o.pos;
        }
        if (z->adapt) {
            z->win_comp_ns += t1 - t0;
            if (o.pos)
                z->win_write_ns += now_ns() - t1;
        }
        /* continue: done once the input is taken; flush/end: once zstd has
         * nothing left to give. */
        if (mode == ZSTD_e_continue ? in.pos == in.size : ret == 0)
            return 0;
    }
}

/* At a message boundary everything written so far has reached the sink,
 * so the frame can end here at the cost of a few bytes; zadapt.h decides. */
static int adapt_level(ss_zenc *z, ss_err *err)
{
    if (z->win_in < ADAPT_WINDOW_BYTES || z->win_comp_ns + z->win_write_ns < ADAPT_WINDOW_NS)
        return 0;
    int next = ss_zadapt_step(&z->za, z->win_in, z->win_comp_ns, z->win_write_ns);
#ifdef SS_ZTRACE
    /* Diagnostic builds only (make CFLAGS+=-DSS_ZTRACE): one line per window. */
    fprintf(stderr, "zadapt: level %d in %llu comp_ms %.1f write_ms %.1f -> %d\n", z->level,
            (unsigned long long)z->win_in, z->win_comp_ns / 1e6, z->win_write_ns / 1e6, next);
#endif
    if (next != z->level && compress(z, NULL, 0, ZSTD_e_end, err) < 0)
        return -1;
    /* The next window starts here (the frame's end is not part of it). */
    z->win_in = z->win_comp_ns = z->win_write_ns = 0;
    if (next == z->level)
        return 0;
    size_t r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, next);
    if (ZSTD_isError(r))
        return ss_seterr(err, SS_EINTERNAL, 0, "zstd: cannot set level %d: %s", next,
                         ZSTD_getErrorName(r));
    z->level = next;
    return 0;
}

int ss_zenc_level(const ss_zenc *z)
{
    return z->mode == SS_Z_ZSTD ? z->level : 0;
}

int ss_zenc_write(ss_zenc *z, const void *p, size_t n, ss_err *err)
{
    z->in_bytes += n;
    z->win_in += n;
    if (z->mode == SS_Z_NONE) {
        if (n && z->write(z->ctx, p, n, err) < 0)
            return -1;
        z->out_bytes += n;
        return 0;
    }
    return n ? compress(z, p, n, ZSTD_e_continue, err) : 0;
}

int ss_zenc_flush(ss_zenc *z, ss_err *err)
{
    if (z->mode == SS_Z_NONE)
        return 0;
    if (compress(z, NULL, 0, ZSTD_e_flush, err) < 0)
        return -1;
    return z->adapt ? adapt_level(z, err) : 0;
}

int ss_zenc_end(ss_zenc *z, ss_err *err)
{
    return z->mode == SS_Z_NONE ? 0 : compress(z, NULL, 0, ZSTD_e_end, err);
}

uint64_t ss_zenc_bytes_in(const ss_zenc *z)
{
    return z->in_bytes;
}

uint64_t ss_zenc_bytes_out(const ss_zenc *z)
{
    return z->out_bytes;
}

void ss_zenc_free(ss_zenc *z)
{
    if (!z)
        return;
    ZSTD_freeCCtx(z->cctx);
    free(z->out);
    free(z);
}

/* ---- decompression ----------------------------------------------------- */

struct ss_zdec {
    ss_zmode mode;
    ZSTD_DCtx *dctx;
    uint8_t *in;
    size_t in_size;
    ZSTD_inBuffer ib;
    int mid_frame;          /* a zstd frame was started and not finished */
    int maybe_more;         /* last call filled the output: zstd may hold more */
    int failed;
    ss_zread_fn read;
    void *ctx;
    uint64_t in_bytes, out_bytes;
};

int ss_zdec_new(ss_zdec **out, ss_zmode mode, ss_zread_fn read, void *ctx, ss_err *err)
{
    *out = NULL;
    ss_zdec *z = calloc(1, sizeof *z);
    if (!z)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot create decompressor");
    z->mode = mode;
    z->read = read;
    z->ctx = ctx;
    if (mode == SS_Z_ZSTD) {
        z->in_size = ZSTD_DStreamInSize();
        z->in = malloc(z->in_size);
        z->dctx = ZSTD_createDCtx();
        if (!z->in || !z->dctx ||
            ZSTD_isError(ZSTD_DCtx_setParameter(z->dctx, ZSTD_d_windowLogMax,
                                                SS_Z_WINDOW_LOG_MAX))) {
            ss_zdec_free(z);
            return ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot create zstd decompressor");
        }
    }
    *out = z;
    return 0;
}

ssize_t ss_zdec_read(ss_zdec *z, void *buf, size_t cap, ss_err *err)
{
    if (z->failed)
        return ss_seterr(err, SS_EPROTO, 0, "compressed stream already failed");
    if (cap == 0)
        return 0;
    if (z->mode == SS_Z_NONE) {
        ssize_t n = z->read(z->ctx, buf, cap, err);
        if (n > 0) {
            z->in_bytes += (uint64_t)n;
            z->out_bytes += (uint64_t)n;
        }
        return n;
    }
    if (cap > (size_t)SSIZE_MAX)
        cap = (size_t)SSIZE_MAX;
    for (;;) {
        if (z->ib.pos < z->ib.size || z->maybe_more) {
            ZSTD_outBuffer o = { buf, cap, 0 };
            size_t before = z->ib.pos;
            size_t ret = ZSTD_decompressStream(z->dctx, &o, &z->ib);
            if (ZSTD_isError(ret)) {
                z->failed = 1;
                if (ZSTD_getErrorCode(ret) == ZSTD_error_frameParameter_windowTooLarge)
                    return ss_seterr(err, SS_EPROTO, 0,
                                     "compressed stream asks for a window above %d MiB",
                                     1 << (SS_Z_WINDOW_LOG_MAX - 20));
                return ss_seterr(err, SS_EPROTO, 0, "corrupt compressed stream: %s",
                                 ZSTD_getErrorName(ret));
            }
            /* ret 0: a frame is complete. Between frames, a call that
             * consumes nothing still returns a hint for the next header,
             * which says nothing about truncation. */
            if (ret == 0)
                z->mid_frame = 0;
            else if (z->ib.pos > before)
                z->mid_frame = 1;
            z->maybe_more = o.pos == o.size;
            if (o.pos) {
                z->out_bytes += o.pos;
                return (ssize_t)o.pos;
            }
            if (z->ib.pos < z->ib.size)
                continue;
        }
        ssize_t n = z->read(z->ctx, z->in, z->in_size, err);
        if (n < 0)
            return -1;
        if (n == 0) {
            if (z->mid_frame) {
                z->failed = 1;
                return ss_seterr(err, SS_EPROTO, 0,
                                 "compressed stream ended inside a zstd frame "
                                 "(connection cut?)");
            }
            return 0;
        }
        z->in_bytes += (uint64_t)n;
        z->ib = (ZSTD_inBuffer){ z->in, (size_t)n, 0 };
    }
}

uint64_t ss_zdec_bytes_in(const ss_zdec *z)
{
    return z->in_bytes;
}

uint64_t ss_zdec_bytes_out(const ss_zdec *z)
{
    return z->out_bytes;
}

void ss_zdec_free(ss_zdec *z)
{
    if (!z)
        return;
    ZSTD_freeDCtx(z->dctx);
    free(z->in);
    free(z);
}
