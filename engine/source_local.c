/* source_local.c — a source directory on this host. Reads go through the
 * calling worker's io ring; the target's signatures are computed while the
 * source read is in flight, so both sides are read at the same time. */
#include "engine/source.h"
#include "engine/fileread.h"
#include "engine/pathsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    ss_source base;
    int rootfd;
    char *root;
    ss_walk_opts walk_opts;
    int has_walk_opts;
    int live;
} local_source;

void ss_source_local_set_live(ss_source *s, int live)
{
    ((local_source *)s)->live = live;
}

static int local_list(ss_source *s, ss_entry_list *out, ss_err *err)
{
    local_source *ls = (local_source *)s;
    return ss_walk_fd(ls->rootfd, ls->root, ls->has_walk_opts ? &ls->walk_opts : NULL, out, err);
}

int ss_source_emit_diff(const ss_range_req *req, const void *data, ss_sig *scratch,
                        ss_tsig_fn tsig, void *tctx, ss_block_sink sink, void *sctx,
                        ss_err *err)
{
    const char *p = data;
    size_t bs = req->block_size;
    if (!req->compare)
        return req->len ? sink(sctx, req->off, p, (size_t)req->len, err) : 0;
    const ss_sig *t = NULL;
    size_t nt = 0;
    if (tsig(tctx, &t, &nt, err) < 0)
        return -1;
    size_t n = ss_sig_blocks(p, (size_t)req->len, bs, scratch);
    /* Coalesce runs of differing blocks into one sink call each. */
    size_t run = 0, i;
    int in_run = 0;
    for (i = 0; i < n; i++) {
        int differs = i >= nt || !ss_sig_eq(&scratch[i], &t[i]);
        if (differs && !in_run) {
            run = i;
            in_run = 1;
        } else if (!differs && in_run) {
            if (sink(sctx, req->off + run * bs, p + run * bs, (i - run) * bs, err) < 0)
                return -1;
            in_run = 0;
        }
    }
    if (in_run) {
        size_t end = (size_t)req->len;
        if (sink(sctx, req->off + run * bs, p + run * bs, end - run * bs, err) < 0)
            return -1;
    }
    return 0;
}

static int local_range(ss_source *s, ss_worker *w, const ss_range_req *req,
                       ss_tsig_fn tsig, void *tctx, ss_block_sink sink, void *sctx,
                       ss_err *err)
{
    local_source *ls = (local_source *)s;
    if (req->len > w->buf_size)
        return ss_seterr(err, SS_EINTERNAL, 0, "range larger than the worker buffer");
    int fd = ss_open_beneath(ls->rootfd, req->path, O_RDONLY, 0);
    if (fd == -ENOENT && ls->live)
        return 1;
    if (fd < 0)
        return ss_seterr(err, SS_ESOURCE, -fd, "cannot open source file %s/%s", ls->root, req->path);
    ss_rfile rf = { fd, -1 };
    if (req->len >= SS_DIRECT_MIN)
        ss_rfile_direct(&rf);
    ss_rfile_read rd;
    int rc = ss_rfile_read_start(w->io, &rf, w->buf, (size_t)req->len, req->off, &rd, err);
    const ss_sig *t = NULL;
    size_t nt = 0;
    /* Pull the target's signatures now, while the source read is in flight. */
    if (rc == 0 && req->compare)
        rc = tsig(tctx, &t, &nt, err);
    ssize_t got = ss_rfile_read_wait(w->io, &rd);
    if (rc == 0 && got < 0)
        rc = ss_seterr(err, SS_ESOURCE, (int)-got, "cannot read source file %s/%s", ls->root, req->path);
    else if (rc == 0 && (uint64_t)got != req->len && ls->live)
        memset((char *)w->buf + got, 0, (size_t)(req->len - (uint64_t)got));
    else if (rc == 0 && (uint64_t)got != req->len)
        rc = ss_seterr(err, SS_ECHANGED, 0, "source file %s/%s changed size while being read (shrank below %llu bytes)",
                       ls->root, req->path, (unsigned long long)(req->off + req->len));
    if (rc == 0 && req->last && !ls->live) {
        struct stat st;
        if (fstat(fd, &st) < 0)
            rc = ss_seterr(err, SS_ESOURCE, errno, "cannot stat source file %s/%s", ls->root, req->path);
        else if ((uint64_t)st.st_size != req->file_size)
            rc = ss_seterr(err, SS_ECHANGED, 0,
                           "source file %s/%s changed size while being read (%llu bytes listed, %llu now)",
                           ls->root, req->path, (unsigned long long)req->file_size,
                           (unsigned long long)st.st_size);
    }
    ss_rfile_close(&rf);
    if (rc < 0)
        return -1;
    return ss_source_emit_diff(req, w->buf, w->sigs, tsig, tctx, sink, sctx, err);
}

/* Data extents of [off, off+len) copied with copy_file_range; holes are
 * skipped (the engine sizes the file at the end), as cp does. */
static int local_copy_to(ss_source *s, const ss_range_req *req, int dst_fd, uint64_t *written,
                         ss_err *err)
{
    local_source *ls = (local_source *)s;
    *written = 0;
    int fd = ss_open_beneath(ls->rootfd, req->path, O_RDONLY, 0);
    if (fd == -ENOENT && ls->live)
        return 1;
    if (fd < 0)
        return ss_seterr(err, SS_ESOURCE, -fd, "cannot open source file %s/%s", ls->root, req->path);
    uint64_t pos = req->off, end = req->off + req->len;
    int rc = 0;
    while (pos < end) {
        off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break;      /* only a hole up to the end of the file */
        if (data < 0) {
            data = (off_t)pos;     /* no SEEK_DATA here: treat all as data */
        }
        if ((uint64_t)data >= end)
            break;
        off_t hole = lseek(fd, data, SEEK_HOLE);
        uint64_t stop = hole < 0 || (uint64_t)hole > end ? end : (uint64_t)hole;
        loff_t in = data, out = data;
        while ((uint64_t)in < stop) {
            ssize_t n = copy_file_range(fd, &in, dst_fd, &out, (size_t)(stop - (uint64_t)in), 0);
            if (n < 0) {
                int e = errno;
                if (*written == 0 && (e == EXDEV || e == EINVAL || e == ENOSYS || e == EOPNOTSUPP ||
                                      e == EBADF || e == EPERM)) {
                    close(fd);
                    return 2;
                }
                rc = ss_seterr(err, e == ENOSPC || e == EDQUOT ? SS_ETARGET : SS_ESOURCE, e,
                               "cannot copy %s/%s", ls->root, req->path);
                break;
            }
            if (n == 0) {
                if (!ls->live)
                    rc = ss_seterr(err, SS_ECHANGED, 0,
                                   "source file %s/%s changed size while being read (shrank below %llu bytes)",
                                   ls->root, req->path, (unsigned long long)stop);
                break;  /* live: the rest stays a hole, i.e. zeros */
            }
            *written += (uint64_t)n;
        }
        if (rc < 0 || (uint64_t)in < stop)
            break;
        pos = stop;
    }
    if (rc == 0 && req->last && !ls->live) {
        struct stat st;
        if (fstat(fd, &st) == 0 && (uint64_t)st.st_size != req->file_size)
            rc = ss_seterr(err, SS_ECHANGED, 0,
                           "source file %s/%s changed size while being read (%llu bytes listed, %llu now)",
                           ls->root, req->path, (unsigned long long)req->file_size,
                           (unsigned long long)st.st_size);
    }
    close(fd);
    return rc;
}

static uint64_t local_wire_bytes(ss_source *s)
{
    (void)s;
    return 0;
}

static void local_destroy(ss_source *s)
{
    local_source *ls = (local_source *)s;
    close(ls->rootfd);
    free(ls->root);
    free(ls);
}

static const ss_source_ops local_ops = {
    .list = local_list,
    .range = local_range,
    .wire_bytes = local_wire_bytes,
    .copy_to = local_copy_to,
    .destroy = local_destroy,
};

int ss_source_local_open(ss_source **out, const char *root, const ss_walk_opts *walk_opts,
                         ss_err *err)
{
    struct stat st;
    if (stat(root, &st) < 0)
        return ss_seterr(err, SS_ESOURCE, errno, "source %s", root);
    if (!S_ISDIR(st.st_mode))
        return ss_seterr(err, SS_ESOURCE, ENOTDIR, "source %s", root);
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ss_seterr(err, SS_ESOURCE, errno, "cannot open source %s", root);
    local_source *ls = calloc(1, sizeof *ls);
    if (!ls || !(ls->root = strdup(root))) {
        free(ls);
        close(fd);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    }
    ls->rootfd = fd;
    if (walk_opts) {
        ls->walk_opts = *walk_opts;
        ls->has_walk_opts = 1;
    }
    ls->base.ops = &local_ops;
    ls->base.name = ls->root;
    *out = &ls->base;
    return 0;
}
