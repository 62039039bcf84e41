/* session.c — frames over an optional zstd stream over an ss_iostream. */
#include "engine/net/session.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RBUF_SIZE (256u << 10)

struct ss_session {
    ss_iostream *io;
    /* receiving (one thread) */
    ss_zdec *zd;
    ss_frame_dec fd;
    uint8_t *rbuf;          /* plain bytes not yet fed to the frame decoder */
    size_t rlen, rpos;
    uint8_t *pend;          /* wire bytes received before compression began */
    size_t pend_len, pend_pos;
    /* sending (any thread, under wmu) */
    pthread_mutex_t wmu;
    ss_zenc *ze;
    ss_wbuf wb;
};

/* Wire bytes: the leftover from before compression first, then the stream. */
static ssize_t raw_read(void *ctx, void *buf, size_t cap, ss_err *err)
{
    ss_session *s = ctx;
    if (s->pend_pos < s->pend_len) {
        size_t n = s->pend_len - s->pend_pos;
        if (n > cap)
            n = cap;
        memcpy(buf, s->pend + s->pend_pos, n);
        s->pend_pos += n;
        return (ssize_t)n;
    }
    return ss_iostream_read(s->io, buf, cap, err);
}

int ss_session_open(ss_session **out, int rfd, int wfd, int own_fds, ss_err *err)
{
    ss_iostream_opts io = { .own_fds = own_fds };
    return ss_session_open_io(out, rfd, wfd, &io, err);
}

int ss_session_open_io(ss_session **out, int rfd, int wfd, const ss_iostream_opts *io,
                       ss_err *err)
{
    *out = NULL;
    ss_session *s = calloc(1, sizeof *s);
    if (!s || !(s->rbuf = malloc(RBUF_SIZE))) {
        free(s);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    }
    pthread_mutex_init(&s->wmu, NULL);
    ss_frame_dec_init(&s->fd, 0);
    ss_wbuf_init(&s->wb, SS_FRAME_MAX_PAYLOAD + SS_FRAME_HDR);
    ss_zopt none = { SS_Z_NONE, 0, 0 };
    if (ss_iostream_open(&s->io, rfd, wfd, io, err) < 0 ||
        ss_zdec_new(&s->zd, SS_Z_NONE, raw_read, s, err) < 0 ||
        ss_zenc_new(&s->ze, &none, ss_iostream_write_fn, s->io, err) < 0) {
        ss_session_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

int ss_session_compress(ss_session *s, const ss_zopt *zo, ss_err *err)
{
    /* Whatever was read past the HELLO is already compressed. */
    if (s->rpos < s->rlen) {
        size_t n = s->rlen - s->rpos;
        uint8_t *p = malloc(n);
        if (!p)
            return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
        memcpy(p, s->rbuf + s->rpos, n);
        free(s->pend);
        s->pend = p;
        s->pend_len = n;
        s->pend_pos = 0;
        s->rlen = s->rpos = 0;
    }
    ss_zdec *zd;
    ss_zenc *ze;
    ss_zopt z = { SS_Z_ZSTD, zo->level, zo->adapt };
    if (ss_zdec_new(&zd, SS_Z_ZSTD, raw_read, s, err) < 0)
        return -1;
    if (ss_zenc_new(&ze, &z, ss_iostream_write_fn, s->io, err) < 0) {
        ss_zdec_free(zd);
        return -1;
    }
    ss_zdec_free(s->zd);
    s->zd = zd;
    pthread_mutex_lock(&s->wmu);
    ss_zenc_free(s->ze);
    s->ze = ze;
    pthread_mutex_unlock(&s->wmu);
    return 0;
}

/* Hand the encoded message in wb to the compressor; with flush, push
 * everything written so far to the peer. */
static int write_locked(ss_session *s, const void *tail, size_t tail_len, int flush,
                        ss_err *err)
{
    if (s->wb.bad)
        return ss_seterr(err, SS_EINTERNAL, 0, "message too large to send");
    if (ss_zenc_write(s->ze, s->wb.p, s->wb.len, err) < 0 ||
        (tail_len && ss_zenc_write(s->ze, tail, tail_len, err) < 0) ||
        (flush && ss_zenc_flush(s->ze, err) < 0))
        return -1;
    return 0;
}

/* A message's bulk data goes to the compressor straight from the caller's
 * buffer, not through wb. */
static int send_msg(ss_session *s, const ss_msg *m, int flush, ss_err *err)
{
    const void *tail;
    size_t tail_len;
    pthread_mutex_lock(&s->wmu);
    ss_wbuf_reset(&s->wb);
    int rc = ss_msg_encode_head(&s->wb, m, &tail, &tail_len, err);
    if (rc == 0)
        rc = write_locked(s, tail, tail_len, flush, err);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

int ss_session_send(ss_session *s, const ss_msg *m, ss_err *err)
{
    return send_msg(s, m, 1, err);
}

int ss_session_send_more(ss_session *s, const ss_msg *m, ss_err *err)
{
    return send_msg(s, m, 0, err);
}

int ss_session_flush(ss_session *s, ss_err *err)
{
    pthread_mutex_lock(&s->wmu);
    ss_wbuf_reset(&s->wb);
    int rc = write_locked(s, NULL, 0, 1, err);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

int ss_session_send_list(ss_session *s, const ss_entry *e, size_t n, size_t *taken,
                         ss_err *err)
{
    pthread_mutex_lock(&s->wmu);
    ss_wbuf_reset(&s->wb);
    int rc = ss_msg_encode_list(&s->wb, e, n, 0, taken, err);
    if (rc == 0)
        rc = write_locked(s, NULL, 0, 1, err);
    pthread_mutex_unlock(&s->wmu);
    return rc;
}

int ss_session_recv(ss_session *s, ss_msg *m, ss_err *err)
{
    for (;;) {
        if (s->rpos < s->rlen) {
            size_t used = 0;
            ss_frame f;
            int r = ss_frame_dec_feed(&s->fd, s->rbuf + s->rpos, s->rlen - s->rpos, &used, &f,
                                      err);
            s->rpos += used;
            if (r < 0)
                return -1;
            if (r == 1)
                return ss_msg_decode(&f, m, err) < 0 ? -1 : 1;
        }
        ssize_t n = ss_zdec_read(s->zd, s->rbuf, RBUF_SIZE, err);
        if (n < 0)
            return -1;
        if (n == 0)
            return ss_frame_dec_eof(&s->fd, err) < 0 ? -1 : 0;
        s->rlen = (size_t)n;
        s->rpos = 0;
    }
}

int ss_session_close_write(ss_session *s, ss_err *err)
{
    pthread_mutex_lock(&s->wmu);
    int rc = ss_zenc_end(s->ze, err);
    pthread_mutex_unlock(&s->wmu);
    ss_err e2;
    if (ss_iostream_close_write(s->io, &e2) < 0 && rc == 0) {
        *err = e2;
        rc = -1;
    }
    return rc;
}

uint64_t ss_session_bytes_in(const ss_session *s)
{
    return ss_iostream_bytes_in(s->io);
}

uint64_t ss_session_bytes_out(const ss_session *s)
{
    return ss_iostream_bytes_out(s->io);
}

void ss_session_close(ss_session *s)
{
    if (!s)
        return;
    ss_zenc_free(s->ze);
    ss_zdec_free(s->zd);
    if (s->io)
        ss_iostream_close(s->io);
    ss_frame_dec_free(&s->fd);
    ss_wbuf_free(&s->wb);
    pthread_mutex_destroy(&s->wmu);
    free(s->rbuf);
    free(s->pend);
    free(s);
}
