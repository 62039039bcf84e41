/*
 * tt_common.h — small helpers shared by the test tools (mktree, mutate,
 * blockdiff). Header-only so the Makefile's one-.c-per-tool rule holds.
 * Nothing here uses the engine: the tools are independent oracles.
 */
#ifndef SEGSYNC_TT_COMMON_H
#define SEGSYNC_TT_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TT_UNUSED __attribute__((unused))

static const char *tt_prog = "tool";

TT_UNUSED __attribute__((noreturn, format(printf, 1, 2)))
static void tt_die(const char *fmt, ...)
{
    int e = errno;
    va_list ap;
    fprintf(stderr, "%s: ", tt_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (e)
        fprintf(stderr, ": %s", strerror(e));
    fputc('\n', stderr);
    exit(2);
}

/* splitmix64: seeds and a fast deterministic stream. */
typedef struct { uint64_t s; } tt_rng;

TT_UNUSED static uint64_t tt_next(tt_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n). n > 0. */
TT_UNUSED static uint64_t tt_below(tt_rng *r, uint64_t n)
{
    return n ? tt_next(r) % n : 0;
}

TT_UNUSED static uint64_t tt_range(tt_rng *r, uint64_t lo, uint64_t hi)
{
    return lo + tt_below(r, hi - lo + 1);
}

TT_UNUSED static tt_rng tt_rng_for(uint64_t seed, uint64_t stream)
{
    tt_rng r = { seed * 0x100000001b3ULL ^ (stream + 0x51ed270b27a4c3d1ULL) };
    tt_next(&r);
    return r;
}

/* Distinct, non-repeating bytes: every 8 bytes come from the stream. */
TT_UNUSED static void tt_fill(tt_rng *r, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len >= 8) {
        uint64_t v = tt_next(r);
        memcpy(p, &v, 8);
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t v = tt_next(r);
        memcpy(p, &v, len);
    }
}

TT_UNUSED static void tt_write_all(int fd, const void *buf, size_t len, const char *what)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            tt_die("write %s", what);
        }
        p += n;
        len -= (size_t)n;
    }
}

TT_UNUSED static void tt_pwrite_all(int fd, const void *buf, size_t len, off_t off,
                                    const char *what)
{
    const char *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            tt_die("pwrite %s", what);
        }
        p += n;
        off += n;
        len -= (size_t)n;
    }
}

/* Read up to len bytes; fewer only at end of file. */
TT_UNUSED static size_t tt_read_full(int fd, void *buf, size_t len, const char *what)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, (char *)buf + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            tt_die("read %s", what);
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return done;
}

/* Append `len` bytes of stream data to fd (at its current offset). */
TT_UNUSED static void tt_write_random(int fd, tt_rng *r, uint64_t len, const char *what)
{
    static unsigned char buf[1 << 20];
    while (len) {
        size_t n = len < sizeof buf ? (size_t)len : sizeof buf;
        tt_fill(r, buf, n);
        tt_write_all(fd, buf, n, what);
        len -= n;
    }
}

TT_UNUSED static char *tt_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s)
        tt_die("out of memory");
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

TT_UNUSED static char *tt_strdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        tt_die("out of memory");
    return d;
}

/* Print a path with non-printable bytes escaped (\n, \t, \xNN). */
TT_UNUSED static void tt_print_path(FILE *f, const char *p)
{
    for (const unsigned char *c = (const unsigned char *)p; *c; c++) {
        if (*c == '\n')
            fputs("\\n", f);
        else if (*c == '\t')
            fputs("\\t", f);
        else if (*c == '\\')
            fputs("\\\\", f);
        else if (*c < 0x20 || *c >= 0x7f)
            fprintf(f, "\\x%02x", *c);
        else
            fputc(*c, f);
    }
}

#endif
