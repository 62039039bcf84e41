/* walsource.c — segment byte sources for the WAL reader: a pg_wal
 * directory, and segments held in memory. */
#include "engine/pg/walsource.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/pg/walformat.h"
#include "engine/pg/walpage.h"
#include "engine/pg/walrecord.h"

void ss_wal_segment_name(char out[25], uint32_t tli, uint64_t segno,
                         uint32_t seg_size)
{
    uint64_t per_id = 0x100000000ull / seg_size;
    snprintf(out, 25, "%08X%08X%08X", tli, (unsigned)(segno / per_id),
             (unsigned)(segno % per_id));
}

/* ---- directory ---- */

typedef struct {
    char dir[PATH_MAX];
    uint32_t seg_size;
    int fd;                   /* open segment, or -1 */
    uint32_t fd_tli;
    uint64_t fd_segno;
    int fd_missing;           /* that segment does not exist */
} dir_source;

static long dir_read(void *vctx, uint32_t tli, uint64_t segno, uint64_t off,
                     void *buf, size_t len, ss_err *err)
{
    dir_source *d = vctx;
    char name[25], path[PATH_MAX + 32];
    ss_wal_segment_name(name, tli, segno, d->seg_size);
    snprintf(path, sizeof path, "%s/%s", d->dir, name);

    if (d->fd < 0 || d->fd_tli != tli || d->fd_segno != segno) {
        if (d->fd >= 0)
            close(d->fd);
        d->fd = -1;
        d->fd_missing = 0;
        d->fd_tli = tli;
        d->fd_segno = segno;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT)
                return ss_seterr(err, SS_ESOURCE, errno, "open WAL segment %s", path);
            d->fd_missing = 1;
        }
        d->fd = fd;
    }
    if (d->fd_missing)
        return 0;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(d->fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ss_seterr(err, SS_ESOURCE, errno, "read WAL segment %s at offset %llu",
                             path, (unsigned long long)(off + got));
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (long)got;
}

static void dir_close(void *vctx)
{
    dir_source *d = vctx;
    if (d->fd >= 0)
        close(d->fd);
    free(d);
}

int ss_wal_source_dir(const char *dir, uint32_t seg_size, ss_wal_source *out,
                      ss_err *err)
{
    if (strlen(dir) >= PATH_MAX)
        return ss_seterr(err, SS_EUSAGE, 0, "WAL directory path too long: %.64s...", dir);
    if (!ss_wal_sizes_valid(seg_size, 1024))
        return ss_seterr(err, SS_EUSAGE, 0, "invalid WAL segment size %u", seg_size);
    dir_source *d = calloc(1, sizeof *d);
    if (!d)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "WAL directory source %s", dir);
    strcpy(d->dir, dir);
    d->seg_size = seg_size;
    d->fd = -1;
    out->ctx = d;
    out->read = dir_read;
    out->close = dir_close;
    return 0;
}

static int is_segment_name(const char *n)
{
    if (strlen(n) != 24)
        return 0;
    for (int i = 0; i < 24; i++)
        if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'A' && n[i] <= 'F')))
            return 0;
    return 1;
}

int ss_wal_probe_dir(const char *dir, uint32_t *seg_size, uint32_t *page_size,
                     int *pg_major, ss_err *err)
{
    DIR *dh = opendir(dir);
    if (!dh)
        return ss_seterr(err, SS_ESOURCE, errno, "open WAL directory %s", dir);
    char best[25] = "";
    struct dirent *de;
    while ((de = readdir(dh)))
        if (is_segment_name(de->d_name) && (!best[0] || strcmp(de->d_name, best) < 0))
            memcpy(best, de->d_name, 25);
    closedir(dh);
    if (!best[0])
        return ss_seterr(err, SS_ESOURCE, 0, "no WAL segment files in %s", dir);

    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", dir, best);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ss_seterr(err, SS_ESOURCE, errno, "open WAL segment %s", path);
    uint8_t buf[SS_XLP_LONG_SIZE];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    int e = errno;
    close(fd);
    if (n < 0)
        return ss_seterr(err, SS_ESOURCE, e, "read WAL segment %s", path);
    if (n < (ssize_t)sizeof buf)
        return ss_seterr(err, SS_ESOURCE, 0, "WAL segment %s: too short for a page header", path);
    ss_wal_page_header h;
    ss_wal_page_header_parse(buf, &h);
    int v = ss_wal_magic_version(h.magic);
    if (!v)
        return ss_seterr(err, SS_ECLUSTER, 0, "WAL segment %s: unknown page magic 0x%04X", path,
                         h.magic);
    if (!h.is_long || !ss_wal_sizes_valid(h.seg_size, h.page_size))
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "WAL segment %s: no valid long page header (segment size %u, page size %u)",
                         path, h.seg_size, h.page_size);
    *seg_size = h.seg_size;
    *page_size = h.page_size;
    *pg_major = v;
    return 0;
}

/* ---- memory ---- */

typedef struct {
    size_t n;
    uint32_t seg_size;
    ss_wal_memseg segs[];
} mem_source;

static long mem_read(void *vctx, uint32_t tli, uint64_t segno, uint64_t off,
                     void *buf, size_t len, ss_err *err)
{
    (void)err;
    mem_source *m = vctx;
    const ss_wal_memseg *s = NULL;
    for (size_t i = 0; i < m->n; i++)
        if (m->segs[i].tli == tli && m->segs[i].segno == segno)
            s = &m->segs[i];
    if (!s || off >= m->seg_size)
        return 0;
    if (len > m->seg_size - off)
        len = (size_t)(m->seg_size - off);
    memset(buf, 0, len);
    /* Copy the overlap of [off, off+len) with [s->off, s->off+s->len). */
    uint64_t lo = off > s->off ? off : s->off;
    uint64_t hi_a = off + len, hi_b = s->off + s->len;
    uint64_t hi = hi_a < hi_b ? hi_a : hi_b;
    if (lo < hi)
        memcpy((uint8_t *)buf + (lo - off), s->data + (lo - s->off), (size_t)(hi - lo));
    return (long)len;
}

static void mem_close(void *vctx) { free(vctx); }

int ss_wal_source_mem(const ss_wal_memseg *segs, size_t nsegs,
                      uint32_t seg_size, ss_wal_source *out, ss_err *err)
{
    mem_source *m = malloc(sizeof *m + nsegs * sizeof segs[0]);
    if (!m)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "in-memory WAL source");
    m->n = nsegs;
    m->seg_size = seg_size;
    if (nsegs)
        memcpy(m->segs, segs, nsegs * sizeof segs[0]);
    out->ctx = m;
    out->read = mem_read;
    out->close = mem_close;
    return 0;
}
