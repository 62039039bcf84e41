#include "engine/fileread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

int ss_reopen_direct(int fd, int accmode)
{
    char p[64];
    /* Reopening through /proc/self/fd gives a second open file description
     * of the very same file (no path lookup, no race with renames). */
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    int d = open(p, accmode | O_DIRECT | O_CLOEXEC);
    return d >= 0 ? d : -1;
}

void ss_rfile_direct(ss_rfile *f)
{
    f->dfd = ss_reopen_direct(f->fd, O_RDONLY);
}

void ss_rfile_close(ss_rfile *f)
{
    if (f->dfd >= 0)
        close(f->dfd);
    if (f->fd >= 0)
        close(f->fd);
    f->fd = f->dfd = -1;
}

/* cachestat(2) (Linux 6.5) says how much of a range is in the page cache
 * without touching it. Older headers do not name it. */
#ifndef __NR_cachestat
#if defined(__x86_64__) || defined(__aarch64__)
#define __NR_cachestat 451
#endif
#endif

struct ss_cachestat_range { uint64_t off, len; };
struct ss_cachestat { uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted; };

/* 1: the whole range is cached; 0: not (or cannot tell). */
static int all_cached(int fd, size_t len, uint64_t off)
{
#ifdef __NR_cachestat
    struct ss_cachestat_range r = { off, len };
    struct ss_cachestat cs;
    if (syscall(__NR_cachestat, fd, &r, &cs, 0) == 0) {
        uint64_t pages = (off % 4096 + len + 4095) / 4096;
        return cs.nr_cache >= pages;
    }
#else
    (void)fd; (void)len; (void)off;
#endif
    return 0;
}

/* Copy what the page cache has. RWF_NOWAIT alone is not enough: a buffered
 * read that misses may still start readahead, reading from the device the
 * very bytes the direct read is about to read again. So only ranges that
 * cachestat says are fully cached are read this way. */
static size_t from_cache(int fd, char *buf, size_t len, uint64_t off)
{
    if (!all_cached(fd, len, off))
        return 0;
    size_t got = 0;
    while (got < len) {
        struct iovec iov = { buf + got, len - got };
        ssize_t n = preadv2(fd, &iov, 1, (off_t)(off + got), RWF_NOWAIT);
        if (n <= 0)
            break;      /* EAGAIN: evicted meanwhile; 0: end of file */
        got += (size_t)n;
    }
    return got;
}

int ss_rfile_read_start(ss_io *io, ss_rfile *f, void *buf, size_t len, uint64_t off,
                        ss_rfile_read *r, ss_err *err)
{
    *r = (ss_rfile_read){ .len = len };
    if (len == 0)
        return 0;
    if (f->dfd < 0 || off % SS_DIRECT_ALIGN) {
        r->op = (ss_io_op){ .fd = f->fd, .buf = buf, .len = len, .off = off };
        r->submitted = 1;
        return ss_io_submit(io, &r->op, err);
    }
    r->cached = from_cache(f->fd, buf, len, off);
    if (r->cached == len)
        return 0;
    /* The device read starts at the aligned page holding the first byte the
     * cache did not have and covers the rest rounded up to alignment. */
    r->start = r->cached / SS_DIRECT_ALIGN * SS_DIRECT_ALIGN;
    size_t rest = len - r->start;
    rest = (rest + SS_DIRECT_ALIGN - 1) / SS_DIRECT_ALIGN * SS_DIRECT_ALIGN;
    r->op = (ss_io_op){ .fd = f->dfd, .buf = (char *)buf + r->start, .len = rest,
                        .off = off + r->start };
    r->submitted = 1;
    return ss_io_submit(io, &r->op, err);
}

ssize_t ss_rfile_read_wait(ss_io *io, ss_rfile_read *r)
{
    if (!r->submitted)
        return (ssize_t)r->cached;
    ssize_t n = ss_io_wait(io, &r->op);
    if (n < 0)
        return n;
    size_t total = r->start + (size_t)n;
    return (ssize_t)(total < r->len ? total : r->len);
}

void *ss_iobuf_alloc(size_t len, size_t *cap)
{
    const size_t huge = 2u << 20;
    size_t align = SS_DIRECT_ALIGN;
    size_t sz = (len + SS_DIRECT_ALIGN - 1) / SS_DIRECT_ALIGN * SS_DIRECT_ALIGN;
    if (sz >= huge / 4) {
        align = huge;
        sz = (len + huge - 1) / huge * huge;
    }
    if (sz == 0)
        sz = SS_DIRECT_ALIGN;
    void *p;
    if (posix_memalign(&p, align, sz) != 0)
        return NULL;
    if (align == huge)
        (void)madvise(p, sz, MADV_HUGEPAGE);   /* advice: ignored where THP is off */
    if (cap)
        *cap = sz;
    return p;
}
