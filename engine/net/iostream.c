#include "engine/net/iostream.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A token bucket: `tokens` bytes may pass now; it refills at `rate` per
 * second up to `burst`. */
typedef struct {
    uint64_t rate;
    double tokens, burst;
    struct timespec last;
} bucket;

struct ss_iostream {
    int rfd, wfd;
    int rflags, wflags;     /* original file status flags, restored on close */
    int wsock;              /* wfd is a socket: send(MSG_NOSIGNAL) */
    int pipe_ignored;       /* SIGPIPE was ignored at open: plain write() */
    int wclosed;
    int own;
    int idle_ms;
    bucket rb, wb;
    _Atomic uint64_t in, out;
};

static double now_s(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

static void bucket_init(bucket *b, uint64_t rate)
{
    b->rate = rate;
    /* A quarter second of traffic, at least 16 KiB: smooth enough, and
     * large enough that each write is not cut into tiny pieces. */
    b->burst = rate / 4 > 16384 ? (double)(rate / 4) : 16384.0;
    b->tokens = b->burst;
    clock_gettime(CLOCK_MONOTONIC, &b->last);
}

/* Wait until some bytes may pass; return how many (<= want). */
static size_t bucket_wait(bucket *b, size_t want)
{
    if (!b->rate)
        return want;
    for (;;) {
        double then = (double)b->last.tv_sec + (double)b->last.tv_nsec / 1e9;
        double now = now_s(&b->last);
        b->tokens += (now - then) * (double)b->rate;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        if (b->tokens >= 1.0)
            break;
        double wait = (1.0 - b->tokens) / (double)b->rate;
        if (wait < 0.001)
            wait = 0.001;
        struct timespec ts = { (time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9) };
        nanosleep(&ts, NULL);
    }
    return (double)want > b->tokens ? (size_t)b->tokens : want;
}

static void bucket_take(bucket *b, size_t n)
{
    if (b->rate)
        b->tokens -= (double)n;
}

int ss_iostream_open(ss_iostream **out, int rfd, int wfd, const ss_iostream_opts *opts,
                     ss_err *err)
{
    *out = NULL;
    ss_iostream_opts def = { 0 };
    if (!opts)
        opts = &def;
    ss_iostream *s = calloc(1, sizeof *s);
    if (!s)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot create a stream");
    s->rfd = rfd;
    s->wfd = wfd;
    s->own = opts->own_fds;
    s->idle_ms = opts->idle_timeout_ms;
    s->rflags = fcntl(rfd, F_GETFL);
    s->wflags = fcntl(wfd, F_GETFL);
    if (s->rflags < 0 || s->wflags < 0 || fcntl(rfd, F_SETFL, s->rflags | O_NONBLOCK) < 0 ||
        fcntl(wfd, F_SETFL, s->wflags | O_NONBLOCK) < 0) {
        int e = errno;
        free(s);
        return ss_seterr(err, SS_EINTERNAL, e, "cannot set up the connection's descriptors");
    }
    struct stat st;
    s->wsock = fstat(wfd, &st) == 0 && S_ISSOCK(st.st_mode);
    /* A process that ignores SIGPIPE (the CLI does) gets EPIPE anyway; the
     * per-write signal mask dance costs three system calls per write. */
    struct sigaction sa;
    s->pipe_ignored = sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN &&
                      !(sa.sa_flags & SA_SIGINFO);
    /* A pipe (to ssh, or ssh's to us) holds 64 KiB by default: the sender
     * then stalls on every few compressed blocks until the reader catches
     * up, and the two sides run in lock-step instead of overlapping. Ask
     * for 1 MiB (the unprivileged maximum by default); a refusal is fine. */
    if (!s->wsock && S_ISFIFO(st.st_mode))
        (void)fcntl(wfd, F_SETPIPE_SZ, 1 << 20);
    if (rfd != wfd && fstat(rfd, &st) == 0 && S_ISFIFO(st.st_mode))
        (void)fcntl(rfd, F_SETPIPE_SZ, 1 << 20);
    bucket_init(&s->rb, opts->max_rate);
    bucket_init(&s->wb, opts->max_rate);
    *out = s;
    return 0;
}

static int wait_fd(ss_iostream *s, int fd, short ev, const char *what, ss_err *err)
{
    struct pollfd p = { .fd = fd, .events = ev };
    for (;;) {
        int r = poll(&p, 1, s->idle_ms > 0 ? s->idle_ms : -1);
        if (r > 0)
            return 0;
        if (r == 0) {
            ss_seterr(err, SS_EPROTO, 0, "connection idle: could not %s the peer for %d s",
                      what, (s->idle_ms + 999) / 1000);
            if (err)
                err->sys_errno = ETIMEDOUT;  /* tells a timeout apart; not in the text */
            return -1;
        }
        if (errno != EINTR)
            return ss_seterr(err, SS_EPROTO, errno, "cannot wait for the connection");
    }
}

ssize_t ss_iostream_read(ss_iostream *s, void *buf, size_t cap, ss_err *err)
{
    if (cap == 0)
        return 0;
    cap = bucket_wait(&s->rb, cap);
    for (;;) {
        ssize_t n = read(s->rfd, buf, cap);
        if (n >= 0) {
            bucket_take(&s->rb, (size_t)n);
            atomic_fetch_add_explicit(&s->in, (uint64_t)n, memory_order_relaxed);
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return ss_seterr(err, SS_EPROTO, errno, "cannot read from the peer");
        if (wait_fd(s, s->rfd, POLLIN, "hear from", err) < 0)
            return -1;
    }
}

int ss_iostream_read_full(ss_iostream *s, void *buf, size_t len, ss_err *err)
{
    size_t have = 0;
    while (have < len) {
        ssize_t n = ss_iostream_read(s, (char *)buf + have, len - have, err);
        if (n < 0)
            return -1;
        if (n == 0)
            return ss_seterr(err, SS_EPROTO, 0,
                             "connection closed by the peer (%zu of %zu bytes read)", have, len);
        have += (size_t)n;
    }
    return 0;
}

/* write() on a pipe whose reader is gone raises SIGPIPE, which would kill
 * the process. Block it in this thread for the call and swallow a pending
 * one, so EPIPE comes back as an error. */
static ssize_t write_nosig(int fd, const void *p, size_t n)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t r = write(fd, p, n);
    int e = errno;
    if (r < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = { 0, 0 };
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return r;
}

int ss_iostream_write_all(ss_iostream *s, const void *p, size_t len, ss_err *err)
{
    const char *c = p;
    if (s->wclosed)
        return ss_seterr(err, SS_EINTERNAL, 0, "write after the stream was closed for writing");
    while (len > 0) {
        size_t want = bucket_wait(&s->wb, len);
        ssize_t n = s->wsock          ? send(s->wfd, c, want, MSG_NOSIGNAL)
                    : s->pipe_ignored ? write(s->wfd, c, want)
                                      : write_nosig(s->wfd, c, want);
        if (n >= 0) {
            bucket_take(&s->wb, (size_t)n);
            atomic_fetch_add_explicit(&s->out, (uint64_t)n, memory_order_relaxed);
            c += n;
            len -= (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EPIPE || errno == ECONNRESET)
            return ss_seterr(err, SS_EPROTO, errno, "the peer closed the connection");
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return ss_seterr(err, SS_EPROTO, errno, "cannot write to the peer");
        if (wait_fd(s, s->wfd, POLLOUT, "send to", err) < 0)
            return -1;
    }
    return 0;
}

int ss_iostream_close_write(ss_iostream *s, ss_err *err)
{
    if (s->wclosed)
        return 0;
    s->wclosed = 1;
    if (s->wsock) {
        if (shutdown(s->wfd, SHUT_WR) < 0 && errno != ENOTCONN)
            return ss_seterr(err, SS_EPROTO, errno, "cannot end the connection");
        return 0;
    }
    if (s->wfd != s->rfd) {
        fcntl(s->wfd, F_SETFL, s->wflags);
        if (s->own && close(s->wfd) < 0)
            return ss_seterr(err, SS_EPROTO, errno, "cannot close the connection");
    }
    return 0;
}

uint64_t ss_iostream_bytes_in(const ss_iostream *s)
{
    return atomic_load_explicit(&s->in, memory_order_relaxed);
}

uint64_t ss_iostream_bytes_out(const ss_iostream *s)
{
    return atomic_load_explicit(&s->out, memory_order_relaxed);
}

void ss_iostream_close(ss_iostream *s)
{
    if (!s)
        return;
    int wgone = s->wclosed && !s->wsock && s->wfd != s->rfd;
    if (s->own) {
        close(s->rfd);
        if (s->wfd != s->rfd && !wgone)
            close(s->wfd);
    } else {
        fcntl(s->rfd, F_SETFL, s->rflags);
        if (!wgone)
            fcntl(s->wfd, F_SETFL, s->wflags);
    }
    free(s);
}

ssize_t ss_iostream_read_fn(void *ctx, void *buf, size_t cap, ss_err *err)
{
    return ss_iostream_read(ctx, buf, cap, err);
}

int ss_iostream_write_fn(void *ctx, const void *p, size_t len, ss_err *err)
{
    return ss_iostream_write_all(ctx, p, len, err);
}

/* ---- TCP ----------------------------------------------------------------- */

static int connect_one(const struct addrinfo *ai, int timeout_ms, int *fd_out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
    if (fd < 0)
        return errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS) {
            int e = errno;
            close(fd);
            return e;
        }
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int r;
        while ((r = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1)) < 0 && errno == EINTR)
            ;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (r == 0)
            soerr = ETIMEDOUT;
        else if (r < 0)
            soerr = errno;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr) {
            close(fd);
            return soerr;
        }
    }
    ss_tcp_tune(fd);
    *fd_out = fd;
    return 0;
}

void ss_tcp_tune(int fd)
{
    int one = 1;
    /* Messages are flushed one by one and a small one (RANGE_END) often
     * follows a large one: with Nagle it waits for the peer's delayed ACK,
     * ~40 ms per request. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

int ss_iostream_connect(ss_iostream **out, const char *host, const char *port,
                        int connect_timeout_ms, const ss_iostream_opts *opts, ss_err *err)
{
    *out = NULL;
    int fd;
    if (ss_tcp_connect(host, port, connect_timeout_ms, &fd, err) < 0)
        return -1;
    ss_iostream_opts o = opts ? *opts : (ss_iostream_opts){ 0 };
    o.own_fds = 1;
    if (ss_iostream_open(out, fd, fd, &o, err) < 0) {
        close(fd);
        return -1;
    }
    return 0;
}

int ss_tcp_connect(const char *host, const char *port, int connect_timeout_ms, int *fd_out,
                   ss_err *err)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return ss_seterr(err, SS_ESOURCE, 0, "cannot resolve %s port %s: %s", host, port,
                         gai_strerror(rc));
    int fd = -1, e = EHOSTUNREACH;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        e = connect_one(ai, connect_timeout_ms, &fd);
    freeaddrinfo(res);
    if (fd < 0) {
        if (e == ETIMEDOUT && connect_timeout_ms > 0)
            return ss_seterr(err, SS_ESOURCE, 0,
                             "cannot connect to %s port %s: no answer within %d s", host, port,
                             (connect_timeout_ms + 999) / 1000);
        return ss_seterr(err, SS_ESOURCE, e, "cannot connect to %s port %s", host, port);
    }
    *fd_out = fd;
    return 0;
}

int ss_tcp_listen(const char *host, const char *port, int *fd_out, ss_err *err)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE };
    struct addrinfo *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return ss_seterr(err, SS_EUSAGE, 0, "cannot resolve listen address %s port %s: %s",
                         host ? host : "*", port, gai_strerror(rc));
    int e = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0) {
            freeaddrinfo(res);
            *fd_out = fd;
            return 0;
        }
        e = errno;
        close(fd);
    }
    freeaddrinfo(res);
    return ss_seterr(err, SS_EUSAGE, e, "cannot listen on %s port %s", host ? host : "*", port);
}

int ss_tcp_accept(int lfd, int timeout_ms, int *fd_out, ss_err *err)
{
    struct pollfd p = { .fd = lfd, .events = POLLIN };
    for (;;) {
        int r = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
        if (r == 0)
            return ss_seterr(err, SS_EPROTO, 0, "no connection within %d s",
                             (timeout_ms + 999) / 1000);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return ss_seterr(err, SS_EINTERNAL, errno, "cannot wait for a connection");
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            ss_tcp_tune(fd);
            *fd_out = fd;
            return 0;
        }
        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
            return ss_seterr(err, SS_EINTERNAL, errno, "cannot accept a connection");
    }
}

/* ---- --max-rate ---------------------------------------------------------- */

int ss_rate_parse(const char *s, uint64_t *bps, ss_err *err)
{
    const char *p = s ? s : "";
    uint64_t v = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (v > (UINT64_MAX - 9) / 10)
            goto bad;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (!digits)
        goto bad;
    unsigned shift;
    switch (*p) {
    case 0:
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    default:
        goto bad;
    }
    if (*p && p[1] != 0)
        goto bad;
    if (v > (UINT64_MAX >> shift))
        goto bad;
    v <<= shift;
    if (v < 32u * 1024)
        return ss_seterr(err, SS_EUSAGE, 0, "transfer rate \"%s\" is below the minimum of 32k",
                         s);
    *bps = v;
    return 0;
bad:
    return ss_seterr(err, SS_EUSAGE, 0,
                     "invalid transfer rate \"%s\": expected a number of kilobytes per "
                     "second, optionally with a k, M or G suffix (e.g. 500k, 100M, 1G)",
                     s ? s : "");
}
