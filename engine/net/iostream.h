/*
 * iostream.h — a byte stream to the peer over a pair of file descriptors.
 *
 * One read side and one write side: the two ends of a pipe pair to ssh, or
 * the same TCP socket twice. The stream adds what a raw descriptor lacks:
 *
 * - read / write-all that retry on EINTR and short transfers;
 * - an idle timeout: a read or write that makes no progress for that long
 *   fails with SS_EPROTO ("connection idle ...", sys_errno ETIMEDOUT), so a
 *   vanished peer never hangs a recovery; nothing is lost by the failed
 *   call, so a caller that expected the silence may simply call again;
 * - a count of bytes on the wire in each direction (readable from any
 *   thread while another uses the stream);
 * - an optional rate limit (--max-rate), a token bucket per direction;
 * - no SIGPIPE: a peer that went away is an EPIPE error, not a dead process
 *   (cheapest when the process ignores SIGPIPE before opening the stream
 *   and keeps it ignored: the CLI does; otherwise each write blocks it).
 *
 * The descriptors are switched to non-blocking mode (restored on close when
 * the stream does not own them). One thread may read while another writes;
 * two readers (or two writers) must take turns.
 */
#ifndef SEGSYNC_NET_IOSTREAM_H
#define SEGSYNC_NET_IOSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/error.h"

typedef struct {
    int idle_timeout_ms;    /* 0 = wait forever */
    uint64_t max_rate;      /* bytes per second in each direction, 0 = unlimited */
    int own_fds;            /* close the descriptors in ss_iostream_close */
} ss_iostream_opts;

typedef struct ss_iostream ss_iostream;

/* A stream over rfd / wfd (may be the same descriptor). opts may be NULL. */
int ss_iostream_open(ss_iostream **out, int rfd, int wfd, const ss_iostream_opts *opts,
                     ss_err *err);
/* Connect to host:port over TCP within connect_timeout_ms (0 = the
 * system's own), with TCP_NODELAY; the stream owns the socket. */
int ss_iostream_connect(ss_iostream **out, const char *host, const char *port,
                        int connect_timeout_ms, const ss_iostream_opts *opts, ss_err *err);

/* The same, giving the connected socket (non-blocking, close-on-exec). */
int ss_tcp_connect(const char *host, const char *port, int connect_timeout_ms, int *fd,
                   ss_err *err);

/* TCP_NODELAY and SO_KEEPALIVE on a connected socket (both ends want
 * them; ss_tcp_connect and ss_tcp_accept already do it). */
void ss_tcp_tune(int fd);

/* A listening TCP socket on host (NULL = every address) and port. */
int ss_tcp_listen(const char *host, const char *port, int *fd, ss_err *err);
/* Accept one connection within timeout_ms (0 = wait forever): the socket. */
int ss_tcp_accept(int lfd, int timeout_ms, int *fd, ss_err *err);

/* Up to cap bytes: > 0, 0 at end of stream, -1 on error or idle timeout. */
ssize_t ss_iostream_read(ss_iostream *s, void *buf, size_t cap, ss_err *err);
/* Exactly len bytes; end of stream before that is an error (SS_EPROTO). */
int ss_iostream_read_full(ss_iostream *s, void *buf, size_t len, ss_err *err);
int ss_iostream_write_all(ss_iostream *s, const void *p, size_t len, ss_err *err);
/* No more writes: shutdown(SHUT_WR) on a socket, close on a pipe, so the
 * peer sees end of stream while this side still reads. */
int ss_iostream_close_write(ss_iostream *s, ss_err *err);

uint64_t ss_iostream_bytes_in(const ss_iostream *s);
uint64_t ss_iostream_bytes_out(const ss_iostream *s);
void ss_iostream_close(ss_iostream *s);

/* Adapters with the shape of zstream's ss_zread_fn / ss_zwrite_fn (ctx is
 * the ss_iostream). */
ssize_t ss_iostream_read_fn(void *ctx, void *buf, size_t cap, ss_err *err);
int ss_iostream_write_fn(void *ctx, const void *p, size_t len, ss_err *err);

/* Parse a --max-rate value as pg_basebackup does: a number of kilobytes per
 * second, or with a suffix k (KiB), M (MiB) or G (GiB) per second; at least
 * 32 kB/s. Result in bytes per second. SS_EUSAGE otherwise. */
int ss_rate_parse(const char *s, uint64_t *bytes_per_sec, ss_err *err);

#endif
