/* agent.c — the source side of the wire protocol: list, read, hash, answer. */
#include "engine/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/fileread.h"
#include "engine/net/keepalive.h"
#include "engine/net/session.h"
#include "engine/pathsafe.h"
#include "engine/source.h"
#include "engine/walk.h"
#include "engine/workq.h"

#define MAX_WORKERS 64
#define MAX_TABLESPACES 64


/* A tablespace link already followed: "DATADIR/pg_tblspc/OID" (DATADIR
 * relative to ROOT, possibly empty) and its target directory. */
typedef struct {
    char *prefix;
    int fd;
} tblspc;

typedef struct {
    const char *root;
    int rootfd;
    ss_session *s;
    pthread_mutex_t mu;
    /* RANGE_REQs and FILE_REQs (ss_msg, owned by whoever holds one) for
     * the workers; bounded, so a client cannot make us queue without end. */
    ss_workq q;
    atomic_int inflight;    /* RANGE_REQs queued or being answered */
    atomic_int queued;      /* of those, not yet taken by a worker */
    atomic_int dead;        /* the stream failed: stop answering */
    ss_err dead_err;        /* first send failure (under mu) */
    uint32_t caps;          /* granted in the HELLO exchange */
    /* Answers sent (lists, data, errors; not keepalives): the client may
     * still be reading them, so its silence is not idleness yet. */
    atomic_ulong answers;
    /* Answers written without a flush since the last one (see end_answer). */
    atomic_uint unflushed;
    pthread_mutex_t ts_mu;
    tblspc ts[MAX_TABLESPACES];
    size_t nts;
} agent;

typedef struct {
    agent *a;
    uint64_t id;
    int send_failed;
} sink_ctx;

static void mark_dead(agent *a, const ss_err *e)
{
    pthread_mutex_lock(&a->mu);
    if (!atomic_load(&a->dead))
        a->dead_err = *e;
    atomic_store(&a->dead, 1);
    pthread_mutex_unlock(&a->mu);
}

/* Send an answer (anything but a keepalive); unflushed when flush is 0. */
static int send_answer(agent *a, const ss_msg *m, int flush, ss_err *err)
{
    int rc = flush ? ss_session_send(a->s, m, err) : ss_session_send_more(a->s, m, err);
    if (rc == 0)
        atomic_fetch_add(&a->answers, 1);
    return rc;
}

/* A range's last message (RANGE_END, RANGE_GONE or its ERROR). Flushed
 * at once when no request waits in the queue: the client may be waiting
 * for it before it sends more. While requests wait, the client is ahead
 * and this answer can ride with the next: the worker that answers one of
 * them with the queue empty flushes, as does the one that brings the
 * unflushed answers to FLUSH_EVERY, or the last request to finish
 * (request_done). Over ssh each flush is a write that wakes sshd, then
 * ssh, then the client's reader: one per range was ~2,200 writes per GiB
 * compared, and those wake-ups cost the two processes in between more CPU
 * than the answers did. */
#define FLUSH_EVERY 8

static int end_answer(agent *a, const ss_msg *m, ss_err *err)
{
    int flush = atomic_load(&a->queued) == 0;
    if (send_answer(a, m, flush, err) < 0)
        return -1;
    if (!flush && atomic_fetch_add(&a->unflushed, 1) + 1 >= FLUSH_EVERY &&
        atomic_exchange(&a->unflushed, 0) > 0)
        return ss_session_flush(a->s, err);
    return 0;
}

/* After a request is done: the last one in flight pushes out what the
 * others left in the compressor. */
static void request_done(agent *a)
{
    if (atomic_fetch_sub(&a->inflight, 1) == 1 && atomic_exchange(&a->unflushed, 0) > 0) {
        ss_err e;
        if (ss_session_flush(a->s, &e) < 0)
            mark_dead(a, &e);
    }
}

/* ---- paths ----------------------------------------------------------------
 *
 * Everything is opened beneath ROOT without following a symlink, with one
 * exception: in a PostgreSQL data directory under ROOT (ROOT itself or a
 * directory beneath it holding PG_VERSION and global/pg_control), the link
 * pg_tblspc/<digits> to an absolute directory may be passed through, and
 * the rest of the path is then opened beneath that directory under the
 * same rules. */

static int all_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Where "pg_tblspc/<digits>" starts in rel (as whole components) and where
 * the part after it starts (at rel's end or after a '/'). -1 when none. */
static long find_tblspc(const char *rel, size_t *after)
{
    size_t i = 0, n = strlen(rel);
    while (i < n) {
        if (strncmp(rel + i, "pg_tblspc/", 10) == 0) {
            const char *d = rel + i + 10;
            size_t dn = strcspn(d, "/");
            if (all_digits(d, dn)) {
                *after = (size_t)(d - rel) + dn;
                return (long)i;
            }
            return -1;      /* only the first pg_tblspc component counts */
        }
        const char *slash = strchr(rel + i, '/');
        if (!slash)
            break;
        i = (size_t)(slash - rel) + 1;
    }
    return -1;
}

/* Is `dir` (relative to ROOT, "" = ROOT) a data directory: PG_VERSION and
 * global/pg_control regular files, reached without symlinks. */
static int is_datadir(int dfd)
{
    int ok = 1;
    const char *need[] = { "PG_VERSION", "global/pg_control" };
    for (int i = 0; i < 2 && ok; i++) {
        int fd = ss_open_beneath(dfd, need[i], O_PATH, 0);
        struct stat st;
        ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
        if (fd >= 0)
            close(fd);
    }
    return ok;
}

/* Follow "DATADIR/pg_tblspc/OID" (the first plen bytes of rel): the
 * target directory's descriptor (kept open in the session's cache), or
 * -errno. -ELOOP when the link may not be followed (not in a data
 * directory, not a symlink, not an absolute one). */
static int tblspc_dir(agent *a, const char *rel, size_t plen)
{
    pthread_mutex_lock(&a->ts_mu);
    for (size_t i = 0; i < a->nts; i++)
        if (strlen(a->ts[i].prefix) == plen && memcmp(a->ts[i].prefix, rel, plen) == 0) {
            int fd = a->ts[i].fd;
            pthread_mutex_unlock(&a->ts_mu);
            return fd;
        }
    pthread_mutex_unlock(&a->ts_mu);
    char *key = strndup(rel, plen);
    char *work = strndup(rel, plen);
    int rc = -ELOOP, ddfd = -1, pfd = -1, fd = -1;
    if (!key || !work) {
        rc = -ENOMEM;
        goto out;
    }
    /* work = [DATADIR/]pg_tblspc/OID */
    char *oid = strrchr(work, '/');
    *oid++ = 0;
    char *slash = strrchr(work, '/');
    if (slash) {
        *slash = 0;
        ddfd = ss_open_beneath(a->rootfd, work, O_RDONLY | O_DIRECTORY, 0);
    } else {
        ddfd = openat(a->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ddfd < 0)
            ddfd = -errno;
    }
    if (ddfd < 0) {
        rc = ddfd;
        goto out;
    }
    if (!is_datadir(ddfd))
        goto out;
    pfd = ss_open_beneath(ddfd, "pg_tblspc", O_RDONLY | O_DIRECTORY, 0);
    if (pfd < 0) {
        rc = pfd;
        goto out;
    }
    /* Only links the data directory's owner could have made: the data
     * directory and pg_tblspc writable by their owner alone (PostgreSQL
     * insists on it), pg_tblspc and the link owned by D's owner or root.
     * Someone else able to write beneath ROOT gains no way out. */
    struct stat dst, pst, lst;
    if (fstat(ddfd, &dst) < 0 || fstat(pfd, &pst) < 0 ||
        fstatat(pfd, oid, &lst, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = -errno;
        goto out;
    }
    /* (root may own them too: a tree written by segsync run as root) */
    if ((dst.st_mode & 022) || (pst.st_mode & 022) ||
        (pst.st_uid != dst.st_uid && pst.st_uid != 0) ||
        (lst.st_uid != dst.st_uid && lst.st_uid != 0))
        goto out;
    char target[2];
    ssize_t tn = readlinkat(pfd, oid, target, sizeof target);
    if (tn < 0) {
        /* EINVAL: not a symlink (an in-place tablespace directory is
         * reached by the ordinary rules). */
        rc = errno == EINVAL ? -ELOOP : -errno;
        goto out;
    }
    if (tn == 0 || target[0] != '/')
        goto out;           /* PostgreSQL writes absolute links only */
    fd = openat(pfd, oid, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    pthread_mutex_lock(&a->ts_mu);
    if (a->nts < MAX_TABLESPACES) {
        a->ts[a->nts++] = (tblspc){ key, fd };
        key = NULL;
        rc = fd;
    } else {
        rc = -EMFILE;
        close(fd);
    }
    pthread_mutex_unlock(&a->ts_mu);
out:
    if (pfd >= 0)
        close(pfd);
    if (ddfd >= 0)
        close(ddfd);
    free(key);
    free(work);
    return rc;
}

/* Open rel (relative to ROOT) with flags: fd or -errno. */
static int open_path(agent *a, const char *rel, int flags)
{
    if (!ss_path_is_safe(rel))
        return -EINVAL;
    size_t after = 0;
    if ((a->caps & SS_CAP_EXT) && find_tblspc(rel, &after) >= 0) {
        int base = tblspc_dir(a, rel, after);
        if (base >= 0) {
            if (rel[after] == 0) {
                /* A fresh open: a walk must not share the cached one's offset. */
                int fd = openat(base, ".", flags | O_CLOEXEC);
                return fd < 0 ? -errno : fd;
            }
            return ss_open_beneath(base, rel + after + 1, flags, 0);
        }
        if (base != -ELOOP)
            return base;
    }
    return ss_open_beneath(a->rootfd, rel, flags, 0);
}

static int tsig_of_req(void *ctx, const ss_sig **sigs, size_t *n, ss_err *err)
{
    (void)err;
    const ss_msg_range_req *rq = ctx;
    *sigs = rq->sigs;
    *n = rq->nsigs;
    return 0;
}

static int send_run(void *ctx, uint64_t off, const void *data, size_t len, ss_err *err)
{
    sink_ctx *sc = ctx;
    ss_msg m;
    memset(&m, 0, sizeof m);
    m.type = SS_MSG_RANGE_DATA;
    m.u.range_data.id = sc->id;
    m.u.range_data.off = off;
    m.u.range_data.len = (uint32_t)len;
    m.u.range_data.hash_kind = SS_HASH_XXH3_128;
    m.u.range_data.data = data;
    /* Not flushed: RANGE_END (or the error) that follows flushes them all. */
    if (ss_session_send_more(sc->a->s, &m, err) < 0) {
        sc->send_failed = 1;
        return -1;
    }
    return 0;
}

/* Read the request's bytes into buf; check the file's size for the last
 * range. Errors name the path under ROOT. 1: a live request's file does
 * not exist (any more). */
static int read_range(agent *a, const ss_msg_range_req *rq, void *buf, ss_err *err)
{
    if (!ss_path_is_safe(rq->path))
        return ss_seterr(err, SS_EPROTO, 0, "refused path \"%s\": not beneath the root", rq->path);
    /* O_NONBLOCK: a fifo put where a file was listed must not hang us. */
    int fd = open_path(a, rq->path, O_RDONLY | O_NONBLOCK);
    if (fd == -ENOENT && rq->live)
        return 1;
    if (fd < 0)
        return ss_seterr(err, SS_ESOURCE, -fd, "cannot open source file %s/%s", a->root, rq->path);
    struct stat st0;
    if (fstat(fd, &st0) < 0) {
        int e = errno;
        close(fd);
        return ss_seterr(err, SS_ESOURCE, e, "cannot stat source file %s/%s", a->root, rq->path);
    }
    if (!S_ISREG(st0.st_mode)) {
        close(fd);
        return ss_seterr(err, SS_ECHANGED, 0, "source file %s/%s is no longer a regular file",
                         a->root, rq->path);
    }
    int rc = 0;
    size_t got = 0;
    while (got < rq->len) {
        ssize_t n = pread(fd, (char *)buf + got, (size_t)rq->len - got, (off_t)(rq->off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ss_seterr(err, SS_ESOURCE, errno, "cannot read source file %s/%s", a->root,
                           rq->path);
            break;
        }
        if (n == 0 && rq->live) {
            /* A live server truncated it: WAL replay repairs the zeros. */
            memset((char *)buf + got, 0, (size_t)rq->len - got);
            break;
        }
        if (n == 0) {
            rc = ss_seterr(err, SS_ECHANGED, 0,
                           "source file %s/%s changed size while being read (shrank below "
                           "%llu bytes)",
                           a->root, rq->path, (unsigned long long)(rq->off + rq->len));
            break;
        }
        got += (size_t)n;
    }
    if (rc == 0 && rq->last && !rq->live) {
        struct stat st;
        if (fstat(fd, &st) < 0)
            rc = ss_seterr(err, SS_ESOURCE, errno, "cannot stat source file %s/%s", a->root,
                           rq->path);
        else if ((uint64_t)st.st_size != rq->file_size)
            rc = ss_seterr(err, SS_ECHANGED, 0,
                           "source file %s/%s changed size while being read (%llu bytes "
                           "listed, %llu now)",
                           a->root, rq->path, (unsigned long long)rq->file_size,
                           (unsigned long long)st.st_size);
    }
    close(fd);
    return rc;
}

typedef struct {
    void *buf;
    size_t buf_size;
    ss_sig *sigs;
    size_t nsigs;
} worker_mem;

static int grow(worker_mem *w, size_t len, size_t nsigs)
{
    if (len > w->buf_size) {
        free(w->buf);
        w->buf_size = 0;
        if (!(w->buf = ss_iobuf_alloc(len, &w->buf_size)))
            return -1;
    }
    if (nsigs > w->nsigs) {
        free(w->sigs);
        w->nsigs = 0;
        if (!(w->sigs = malloc(nsigs * sizeof *w->sigs)))
            return -1;
        w->nsigs = nsigs;
    }
    return 0;
}

static void serve_range(agent *a, worker_mem *w, const ss_msg_range_req *rq)
{
    ss_err e = { 0 };
    sink_ctx sc = { a, rq->id, 0 };
    size_t nblocks = (size_t)((rq->len + rq->block_size - 1) / rq->block_size);
    int rc;
    if (grow(w, (size_t)rq->len, nblocks + 1) < 0)
        rc = ss_seterr(&e, SS_EINTERNAL, ENOMEM, "out of memory");
    else
        rc = read_range(a, rq, w->buf, &e);
    if (rc == 1) {
        ss_msg m;
        memset(&m, 0, sizeof m);
        m.type = SS_MSG_RANGE_GONE;
        m.u.range_end.id = rq->id;
        if (end_answer(a, &m, &e) < 0)
            mark_dead(a, &e);
        return;
    }
    if (rc == 0) {
        ss_range_req req = {
            .path = rq->path, .file_size = rq->file_size, .off = rq->off, .len = rq->len,
            .block_size = rq->block_size, .last = rq->last, .compare = rq->compare,
        };
        rc = ss_source_emit_diff(&req, w->buf, w->sigs, tsig_of_req, (void *)rq, send_run, &sc,
                                 &e);
    }
    ss_msg m;
    memset(&m, 0, sizeof m);
    if (rc == 0) {
        m.type = SS_MSG_RANGE_END;
        m.u.range_end.id = rq->id;
    } else if (!sc.send_failed) {
        ss_msg_error_set(&m, rq->id, &e);
    }
    if (sc.send_failed || end_answer(a, &m, &e) < 0)
        mark_dead(a, &e);
}

/* Read a whole regular file of at most max bytes into *buf (malloc'd).
 * 1: it does not exist. */
static int read_whole(agent *a, const ss_msg_file_req *q, char **buf, size_t *len,
                      ss_err *err)
{
    *buf = NULL;
    *len = 0;
    int fd = open_path(a, q->path, O_RDONLY | O_NONBLOCK);
    if (fd == -ENOENT)
        return 1;
    if (fd < 0)
        return ss_seterr(err, SS_ESOURCE, -fd, "cannot open source file %s/%s", a->root,
                         q->path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return ss_seterr(err, SS_ESOURCE, e, "cannot stat source file %s/%s", a->root, q->path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ss_seterr(err, SS_ESOURCE, 0, "source %s/%s is a %s, not a regular file",
                         a->root, q->path, ss_ftype_name(ss_ftype_of(st.st_mode)));
    }
    if ((uint64_t)st.st_size > q->max) {
        close(fd);
        return ss_seterr(err, SS_ESOURCE, 0,
                         "source file %s/%s is larger than %u bytes (%llu bytes)", a->root,
                         q->path, q->max, (unsigned long long)st.st_size);
    }
    /* One byte more than the limit tells a file that grew past it. */
    size_t cap = (size_t)st.st_size + 1, got = 0;
    char *p = malloc(cap);
    int rc = 0;
    for (;;) {
        if (!p) {
            rc = ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
            break;
        }
        if (got == cap) {
            if (cap > q->max) {
                rc = ss_seterr(err, SS_ESOURCE, 0,
                               "source file %s/%s is larger than %u bytes", a->root, q->path,
                               q->max);
                break;
            }
            cap = cap * 2 > (size_t)q->max + 1 ? (size_t)q->max + 1 : cap * 2;
            char *np = realloc(p, cap);
            if (!np) {
                rc = ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
                break;
            }
            p = np;
        }
        ssize_t n = read(fd, p + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ss_seterr(err, SS_ESOURCE, errno, "cannot read source file %s/%s", a->root,
                           q->path);
            break;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (rc < 0) {
        free(p);
        return -1;
    }
    *buf = p;
    *len = got;
    return 0;
}

static void serve_file(agent *a, const ss_msg_file_req *q)
{
    ss_err e = { 0 };
    char *buf = NULL;
    size_t len = 0;
    int rc = read_whole(a, q, &buf, &len, &e);
    ss_msg m;
    memset(&m, 0, sizeof m);
    if (rc < 0) {
        ss_msg_error_set(&m, q->id, &e);
    } else {
        m.type = SS_MSG_FILE_DATA;
        m.u.file_data = (ss_msg_file_data){ .id = q->id, .absent = rc == 1,
                                            .len = (uint32_t)len, .data = buf };
    }
    if (send_answer(a, &m, 1, &e) < 0)
        mark_dead(a, &e);
    free(buf);
}

static void *worker_main(void *arg)
{
    agent *a = arg;
    worker_mem w = { 0 };
    ss_msg m;
    while (ss_workq_pop(&a->q, &m) == 0) {
        atomic_fetch_sub(&a->queued, 1);
        if (atomic_load(&a->dead))
            ;
        else if (m.type == SS_MSG_FILE_REQ)
            serve_file(a, &m.u.file_req);
        else
            serve_range(a, &w, &m.u.range_req);
        request_done(a);
        ss_msg_free(&m);
    }
    free(w.buf);
    free(w.sigs);
    return NULL;
}

/* Hand a RANGE_REQ to the workers; waits while the queue is full. Takes m. */
static int enqueue(agent *a, ss_msg *m, ss_err *err)
{
    atomic_fetch_add(&a->inflight, 1);
    atomic_fetch_add(&a->queued, 1);
    if (ss_workq_push(&a->q, m) < 0) {
        atomic_fetch_sub(&a->inflight, 1);
        atomic_fetch_sub(&a->queued, 1);
        ss_msg_free(m);
        return ss_seterr(err, SS_EINTERNAL, 0, "request after the workers stopped");
    }
    return 0;
}

/* The tree under ROOT, or under the subtree `sub` of ROOT (entries relative
 * to it), opened beneath ROOT without following a symlink out of it (but
 * through a tablespace link, see open_path). With SS_CAP_EXT, sockets and
 * fifos are listed (type other) for the client to report, and LIST_END
 * carries the listed directory's own attributes. */
static int send_entries(agent *a, ss_entry_list *lp, ss_err *err);

/* -1: nothing could be listed (err set, nothing sent); -2: sending failed. */
static int send_list(agent *a, const char *sub, ss_err *err)
{
    ss_entry_list l;
    memset(&l, 0, sizeof l);
    if (a->rootfd < 0)
        return ss_seterr(err, SS_ESOURCE, 0, "no root to list");
    int rc = 0;
    ss_walk_opts wo = { .keep_other = (a->caps & SS_CAP_EXT) != 0 };
    if (sub && *sub) {
        if (!ss_path_is_safe(sub))
            return ss_seterr(err, SS_EPROTO, 0, "refused path \"%s\": not beneath the root", sub);
        int fd = open_path(a, sub, O_RDONLY | O_DIRECTORY);
        if (fd < 0)
            return ss_seterr(err, SS_ESOURCE, -fd, "cannot open source directory %s/%s",
                             a->root, sub);
        size_t n = strlen(a->root) + strlen(sub) + 2;
        char *name = malloc(n);
        if (!name) {
            close(fd);
            return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
        }
        snprintf(name, n, "%s/%s", a->root, sub);
        rc = ss_walk_fd(fd, name, &wo, &l, err);
        free(name);
        close(fd);
    } else {
        rc = ss_walk_fd(a->rootfd, a->root, &wo, &l, err);
    }
    if (rc < 0)
        return -1;
    return send_entries(a, &l, err);
}

/* A LIST_REQ: the listing, or (SS_CAP_EXT) an ERROR for this request that
 * leaves the session open. -1 only when the session cannot go on. */
static int answer_list(agent *a, const char *sub, ss_err *err)
{
    ss_err le;
    int rc = send_list(a, sub, &le);
    if (rc == 0)
        return 0;
    if (rc == -2 || !(a->caps & SS_CAP_EXT)) {
        *err = le;
        return -1;
    }
    ss_msg m;
    ss_msg_error_set(&m, SS_MSG_ID_LIST, &le);
    return send_answer(a, &m, 1, err);
}

/* Send a listing and LIST_END: -2 (err set) when sending failed. */
static int send_entries(agent *a, ss_entry_list *lp, ss_err *err)
{
    ss_entry_list l = *lp;
    int rc = 0;
    size_t i = 0;
    while (rc == 0 && i < l.n) {
        size_t taken = 0;
        rc = ss_session_send_list(a->s, l.v + i, l.n - i, &taken, err);
        if (rc == 0)
            atomic_fetch_add(&a->answers, 1);
        i += taken;
    }
    ss_msg m = { .type = SS_MSG_LIST_END };
    if (a->caps & SS_CAP_EXT)
        m.u.list_end = (ss_msg_list_end){ 1, l.root.mode, l.root.uid, l.root.gid,
                                          l.root.mtime_sec, l.root.mtime_nsec };
    ss_entry_list_free(&l);
    if (rc == 0)
        rc = send_answer(a, &m, 1, err);
    return rc < 0 ? -2 : 0;
}

/* HELLO in, HELLO out, compression on when both want it. */
static int handshake(agent *a, const ss_agent_opts *o, ss_err *err)
{
    ss_msg m;
    int r = ss_session_recv(a->s, &m, err);
    if (r == 0)
        return ss_seterr(err, SS_EPROTO, 0, "the client closed the connection before HELLO");
    if (r < 0)
        return -1;
    if (m.type != SS_MSG_HELLO) {
        ss_seterr(err, SS_EPROTO, 0, "expected HELLO, got %s", ss_msg_type_name(m.type));
        ss_msg_free(&m);
        return -1;
    }
    ss_msg_hello h = m.u.hello;
    ss_msg_free(&m);
    uint32_t offer = (o->compress.mode == SS_Z_ZSTD ? SS_CAP_ZSTD : 0) | SS_CAP_EXT |
                     SS_CAP_KEEPALIVE;
    ss_msg reply;
    memset(&reply, 0, sizeof reply);
    reply.type = SS_MSG_HELLO;
    reply.u.hello = h;
    reply.u.hello.version = SS_PROTO_VERSION;
    reply.u.hello.caps = h.caps & offer & SS_CAP_KNOWN;
    if (ss_session_send(a->s, &reply, err) < 0)
        return -1;
    a->caps = reply.u.hello.caps;
    if (reply.u.hello.caps & SS_CAP_ZSTD)
        return ss_session_compress(a->s, &o->compress, err);
    return 0;
}

/* Bytes we sent that the client has not read yet went down since the last
 * look: it is alive and reading. A client that reads nothing for the idle
 * time (or a socket that cannot tell) is not draining. */
static int client_draining(int wfd, int *last)
{
    int n = 0;
    if (ioctl(wfd, SIOCOUTQ, &n) < 0 || n <= 0) {
        *last = -1;
        return 0;
    }
    int draining = *last < 0 || n < *last;
    *last = n;
    return draining;
}

/* We answered something since the last look: the client may still be
 * reading it out of its buffers; the idle time starts again. Our own
 * PINGs do not count (they would keep a vanished client forever). */
static int answered_since(agent *a, unsigned long *seen)
{
    unsigned long now = atomic_load(&a->answers);
    int wrote = now != *seen;
    *seen = now;
    return wrote;
}

/* TCP: the client proves it holds the token before anything is served. */
static int authenticate(agent *a, const ss_auth_token *t, ss_err *err)
{
    ss_auth au;
    ss_msg m, reply;
    if (ss_auth_server_begin(&au, t, &m, err) < 0 || ss_session_send(a->s, &m, err) < 0)
        return -1;
    int r = ss_session_recv(a->s, &m, err);
    if (r == 0)
        return ss_seterr(err, SS_EPROTO, 0,
                         "authentication failed: the client closed the connection");
    if (r < 0) {
        ss_err_prefix(err, "authentication failed: ");
        return -1;
    }
    int rc = ss_auth_server_finish(&au, &m, &reply, err);
    ss_msg_free(&m);
    memset(&au, 0, sizeof au);
    if (rc < 0)
        return -1;
    return ss_session_send(a->s, &reply, err);
}

int ss_agent_serve(const char *root, int rfd, int wfd, const ss_agent_opts *o, ss_err *err)
{
    ss_agent_opts dflt = { .compress = { SS_Z_ZSTD, SS_Z_DEFAULT_LEVEL, 1 } };
    if (!o)
        o = &dflt;
    agent a;
    memset(&a, 0, sizeof a);
    a.root = root;
    ss_err root_err = { 0 };
    a.rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (a.rootfd < 0)
        ss_seterr(&root_err, SS_ESOURCE, errno, "cannot open source directory %s", root);
    ss_agent_stats stats_local;
    ss_agent_stats *st = o->stats ? o->stats : &stats_local;
    memset(st, 0, sizeof *st);
    ss_iostream_opts io = { .idle_timeout_ms = o->idle_timeout_ms };
    if (ss_session_open_io(&a.s, rfd, wfd, &io, err) < 0) {
        if (a.rootfd >= 0)
            close(a.rootfd);
        return -1;
    }
    pthread_mutex_init(&a.mu, NULL);
    pthread_mutex_init(&a.ts_mu, NULL);
    /* Answering is reading and hashing: CPU work. More threads than CPUs
     * only thrash (measured: 4 workers on 2 CPUs cost 0.65 s of CPU per
     * GiB against 0.42 s with 1); the client keeps requests queued. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned nw = o->workers ? o->workers
                             : ncpu < 2 ? 2 : ncpu > 8 ? 8 : (unsigned)ncpu;
    if (nw > MAX_WORKERS)
        nw = MAX_WORKERS;
    if (ss_workq_init(&a.q, sizeof(ss_msg), 2 * (size_t)nw) < 0) {
        pthread_mutex_destroy(&a.mu);
        pthread_mutex_destroy(&a.ts_mu);
        ss_session_close(a.s);
        if (a.rootfd >= 0)
            close(a.rootfd);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    }
    pthread_t tids[MAX_WORKERS];
    unsigned started = 0;

    int rc = handshake(&a, o, err);
    int ended = 0, err_sent = 0;
    if (rc == 0 && o->token && authenticate(&a, o->token, err) < 0) {
        st->auth_failed = err->sys_errno != ETIMEDOUT;
        rc = -1;
    }
    if (rc < 0 && err->sys_errno == ETIMEDOUT)
        st->idle = 1;
    int outq = -1;
    unsigned long seen_out = 0;
    if (rc == 0 && a.rootfd < 0) {
        *err = root_err;
        rc = -1;
    }
    /* After authentication: nothing but its messages may come before. */
    ss_keepalive *ka = NULL;
    if (rc == 0 && (a.caps & SS_CAP_KEEPALIVE) &&
        ss_keepalive_start(&ka, a.s, ss_keepalive_interval(o->idle_timeout_ms), err) < 0)
        rc = -1;
    for (; rc == 0 && started < nw; started++)
        if (pthread_create(&tids[started], NULL, worker_main, &a) != 0) {
            rc = ss_seterr(err, SS_EINTERNAL, errno, "cannot start a worker thread");
            break;
        }
    while (rc == 0 && !atomic_load(&a.dead)) {
        ss_msg m;
        int r = ss_session_recv(a.s, &m, err);
        /* Silence is expected while the client waits for our answers, or
         * still reads what we sent (a slow link, --max-rate). */
        if (r < 0 && err->sys_errno == ETIMEDOUT &&
            (atomic_load(&a.inflight) > 0 || answered_since(&a, &seen_out) ||
             client_draining(wfd, &outq)))
            continue;
        if (r < 0) {
            st->idle = err->sys_errno == ETIMEDOUT;
            rc = -1;
            break;
        }
        if (r == 0)
            break;
        switch (m.type) {
        case SS_MSG_LIST_REQ:
            st->lists++;
            rc = answer_list(&a, m.u.list_req.path, err);
            ss_msg_free(&m);
            break;
        case SS_MSG_RANGE_REQ:
            st->ranges++;
            rc = enqueue(&a, &m, err);
            break;
        case SS_MSG_FILE_REQ:
            st->files++;
            rc = enqueue(&a, &m, err);
            break;
        case SS_MSG_END:
            ended = 1;
            ss_msg_free(&m);
            break;
        case SS_MSG_PING:
            if (ka)
                ss_keepalive_pong(ka);
            break;
        case SS_MSG_PONG:
            break;      /* it was heard: that is all a PONG is for */
        case SS_MSG_ERROR:
            rc = ss_seterr(err, SS_EPROTO, 0, "the client reported: %s", m.u.error.text);
            err_sent = 1;   /* no point answering */
            ss_msg_free(&m);
            break;
        default:
            rc = ss_seterr(err, SS_EPROTO, 0, "unexpected %s message from the client",
                           ss_msg_type_name(m.type));
            ss_msg_free(&m);
            break;
        }
        if (ended)
            break;
    }
    /* Answer what was asked, then stop the workers. */
    ss_workq_close(&a.q);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    ss_keepalive_stop(ka);
    if (rc == 0 && atomic_load(&a.dead)) {
        *err = a.dead_err;
        rc = -1;
        err_sent = 1;
    }
    ss_err e2;
    if (rc < 0 && !err_sent) {
        ss_msg m;
        ss_msg_error_set(&m, 0, err);
        ss_session_send(a.s, &m, &e2);
    } else if (rc == 0 && ended) {
        ss_msg m = { .type = SS_MSG_END };
        if (ss_session_send(a.s, &m, err) < 0)
            rc = -1;
    }
    ss_session_close_write(a.s, &e2);
    st->bytes_in = ss_session_bytes_in(a.s);
    st->bytes_out = ss_session_bytes_out(a.s);
    ss_session_close(a.s);
    ss_keepalive_free(ka);
    ss_workq_destroy(&a.q);
    pthread_mutex_destroy(&a.mu);
    for (size_t i = 0; i < a.nts; i++) {
        free(a.ts[i].prefix);
        close(a.ts[i].fd);
    }
    pthread_mutex_destroy(&a.ts_mu);
    if (a.rootfd >= 0)
        close(a.rootfd);
    return rc;
}
