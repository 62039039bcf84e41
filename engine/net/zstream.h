/*
 * zstream.h — compression of the byte stream in each direction.
 *
 * The sender writes the bytes of its messages into an ss_zenc and calls
 * ss_zenc_flush at each message boundary (ZSTD_e_flush): everything written
 * so far then reaches the sink in a form the peer can decode at once, so a
 * request never waits in a compressor's buffer. Before closing, the sender
 * calls ss_zenc_end, which closes the zstd frame; a stream that stops in the
 * middle of a frame is reported as truncated by the receiver.
 *
 * The receiver pulls plain bytes with ss_zdec_read, which pulls compressed
 * bytes from a read function (the connection). Output is produced into the
 * caller's buffer, never more than its size per call, and the decoder's
 * window is capped (SS_Z_WINDOW_LOG_MAX): a small input that expands to
 * gigabytes (a "decompression bomb") costs time, never unbounded memory.
 *
 * Mode "none" passes bytes through unchanged, with the same calls.
 */
#ifndef SEGSYNC_NET_ZSTREAM_H
#define SEGSYNC_NET_ZSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/error.h"

typedef enum { SS_Z_NONE = 0, SS_Z_ZSTD = 1 } ss_zmode;

/* Level 1 keeps up with a 10 Gbit/s link on one core; higher levels trade
 * CPU on the source for bytes on the wire. */
#define SS_Z_DEFAULT_LEVEL 1
#define SS_Z_MAX_LEVEL 19        /* above 19 zstd wants windows > 8 MiB */
#define SS_Z_WINDOW_LOG_MAX 24   /* decoder refuses windows above 16 MiB */

typedef struct {
    ss_zmode mode;
    int level;              /* 1 .. SS_Z_MAX_LEVEL, for SS_Z_ZSTD */
    /* Adaptive level, starting at `level`: the encoder measures, between
     * message boundaries, the plain bytes it got through per second of
     * compressing plus handing bytes to the sink (the connection), and
     * moves the level a step at a time toward higher throughput (rule in
     * zadapt.h; on a plateau the cheaper level wins), between
     * zstd's fast level SS_Z_ADAPT_MIN and SS_Z_ADAPT_MAX: higher on a slow
     * link (fewer bytes to wait for), lower on a fast link or a busy CPU.
     * A change closes the current zstd frame and opens the next (the
     * receiver sees one stream of frames, as after ss_zenc_end). */
    int adapt;
} ss_zopt;

#define SS_Z_ADAPT_MIN (-5)
#define SS_Z_ADAPT_MAX 12

/* Parse "none", "zstd" (adaptive, from level SS_Z_DEFAULT_LEVEL) or
 * "zstd:LEVEL" (fixed; LEVEL 1..19). SS_EUSAGE otherwise. */
int ss_zopt_parse(const char *s, ss_zopt *out, ss_err *err);

/* Where compressed bytes go / come from (an ss_iostream, a buffer in tests).
 * A read returns the number of bytes (> 0), 0 at end of stream, -1 on error. */
typedef int (*ss_zwrite_fn)(void *ctx, const void *p, size_t n, ss_err *err);
typedef ssize_t (*ss_zread_fn)(void *ctx, void *buf, size_t cap, ss_err *err);

typedef struct ss_zenc ss_zenc;
typedef struct ss_zdec ss_zdec;

int ss_zenc_new(ss_zenc **out, const ss_zopt *opt, ss_zwrite_fn write, void *ctx,
                ss_err *err);
/* Compress n bytes; output goes to the sink whenever the internal buffer
 * fills. */
int ss_zenc_write(ss_zenc *z, const void *p, size_t n, ss_err *err);
/* Message boundary: push everything written so far to the sink. */
int ss_zenc_flush(ss_zenc *z, ss_err *err);
/* End of stream: flush and close the zstd frame. Writing after it starts a
 * new frame. */
int ss_zenc_end(ss_zenc *z, ss_err *err);
/* The level in use now (changes over time when adaptive). */
int ss_zenc_level(const ss_zenc *z);
uint64_t ss_zenc_bytes_in(const ss_zenc *z);    /* plain bytes written */
uint64_t ss_zenc_bytes_out(const ss_zenc *z);   /* bytes handed to the sink */
void ss_zenc_free(ss_zenc *z);

int ss_zdec_new(ss_zdec **out, ss_zmode mode, ss_zread_fn read, void *ctx, ss_err *err);
/* Up to cap plain bytes into buf: > 0 bytes, 0 at a clean end of stream,
 * -1 on error (corrupt data, a window too large, a stream cut inside a zstd
 * frame: SS_EPROTO; or the read function's error). */
ssize_t ss_zdec_read(ss_zdec *z, void *buf, size_t cap, ss_err *err);
uint64_t ss_zdec_bytes_in(const ss_zdec *z);    /* compressed bytes read */
uint64_t ss_zdec_bytes_out(const ss_zdec *z);   /* plain bytes returned */
void ss_zdec_free(ss_zdec *z);

#endif
