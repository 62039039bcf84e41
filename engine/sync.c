/*
 * sync.c — the orchestration of one run: list, decide, prepare the tree
 * shape, move file data with a worker pool, finish attributes, make durable.
 */
#include "engine/sync.h"
#include "engine/fileread.h"
#include "engine/presig.h"
#include "engine/workq.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CHUNK (4u << 20)
/* Compared chunks are smaller: both sides' bytes of a 1 MiB chunk are still
 * in the CPU caches when they are hashed, where 4 MiB ones went out to
 * memory and back (1 GiB differential, warm, medians of 7: 0.37 s against
 * 0.50 s locally, 0.81 against 0.92 s through the agent over a pipe).
 * Copies keep DEFAULT_CHUNK: fewer, larger requests and writes. */
#define COMPARE_CHUNK (1u << 20)
#define IO_DEPTH 64

typedef struct engine engine;

typedef struct {
    engine *eng;
    const ss_plan_item *it;
    int fd;                     /* target fd; -1 when nothing is opened */
    int dfd;                    /* O_DIRECT twin of fd, or -1: UPDATE reads the
                                 * target through it, COPY writes whole pages */
    char *tmprel;               /* COPY: the temporary it is written to */
    uint64_t dst_size;          /* UPDATE: target size before the run */
    atomic_uint chunks_left;
    atomic_int failed;
    atomic_int vanished;        /* a live source lost the file meanwhile */
    int chmodded;               /* UPDATE: made writable to be opened */
    atomic_int wb_pending;      /* small cached writes wait for the file's write-back */
    _Atomic uint64_t bytes, blocks, written;
} file_job;

typedef struct {
    file_job *job;
    uint64_t off, len;
    int last;
    int fetch_all;              /* known to differ: send without comparing */
} chunk;

typedef struct {
    ss_worker pub;
    void *tbuf;                 /* the target's bytes of the current chunk */
    ss_sig *tsigs;
    ss_io_op *ops;              /* writes queued by the sink for one chunk */
    size_t nops, maxops;
    size_t cached_bytes;        /* the current chunk wrote through the page cache */
} worker;

struct engine {
    ss_source *src;
    ss_target *tgt;
    const ss_sync_opts *o;
    ss_counters *ctr;
    ss_workq q;
    size_t chunk_size;
    uint32_t bs;
    int writes;                 /* neither dry-run nor verify */
    atomic_int abort;
    atomic_int differs;         /* VERIFY found something */
    pthread_mutex_t err_mu;
    ss_err err;
    int has_err;
};

/* ---- errors and events -------------------------------------------------- */

static void fail(engine *e, const ss_err *err)
{
    pthread_mutex_lock(&e->err_mu);
    if (!e->has_err) {
        e->err = *err;
        e->has_err = 1;
    }
    pthread_mutex_unlock(&e->err_mu);
    atomic_store(&e->abort, 1);
}

static void emit(engine *e, ss_event_kind kind, ss_act act, const char *path, const char *detail,
                 uint64_t bytes, uint64_t blocks)
{
    if (kind == SS_EV_DIFFERS)
        atomic_store(&e->differs, 1);
    if (!e->o->event)
        return;
    ss_event ev = { kind, act, path, detail, bytes, blocks };
    e->o->event(e->o->event_ctx, &ev);
}

static int cancelled(engine *e)
{
    if (atomic_load(&e->abort))
        return 1;
    if (e->o->cancelled && e->o->cancelled(e->o->cancel_ctx)) {
        ss_err err;
        ss_seterr(&err, SS_EINTERNAL, EINTR, "interrupted");
        fail(e, &err);
        return 1;
    }
    return 0;
}

/* ---- per-chunk callbacks ------------------------------------------------- */

typedef struct {
    engine *eng;
    file_job *job;
    worker *w;
    uint64_t off, len;
    int have;
    size_t n;
    void *tbuf;             /* where the target's bytes are read */
    ss_sig *tsigs;          /* and their signatures kept */
    const ss_sig *sp;       /* the signatures handed out: tsigs or presig's */
} tsig_ctx;

/* The target's bytes of [off, off + len): fewer when the target is shorter. */
static uint64_t target_want(const file_job *job, uint64_t off, uint64_t len)
{
    uint64_t avail = job->dst_size > off ? job->dst_size - off : 0;
    return avail < len ? avail : len;
}

/* The target's signatures of those bytes, if presig hashed them ahead. */
static int presig_sigs(const engine *e, const file_job *job, uint64_t off, uint64_t want,
                       const ss_sig **sigs, size_t *n)
{
    const ss_entry *d = job->it->dst;
    return e->o->presig && d &&
           ss_presig_lookup(e->o->presig, d->path, d->size, d->mtime_sec, d->mtime_nsec, e->bs,
                            off, want, sigs, n);
}

static int tsig_fn(void *ctx, const ss_sig **sigs, size_t *n, ss_err *err)
{
    tsig_ctx *t = ctx;
    if (!t->have) {
        file_job *job = t->job;
        uint64_t want = target_want(job, t->off, t->len);
        t->n = 0;
        if (want > 0 && presig_sigs(t->eng, job, t->off, want, &t->sp, &t->n)) {
            t->have = 1;
            *sigs = t->sp;
            *n = t->n;
            return 0;
        }
        if (want > 0) {
            ss_rfile rf = { job->fd, job->dfd };
            ss_rfile_read rd;
            if (ss_rfile_read_start(t->w->pub.io, &rf, t->tbuf, (size_t)want, t->off, &rd, err) < 0)
                return -1;
            ssize_t got = ss_rfile_read_wait(t->w->pub.io, &rd);
            if (got < 0)
                return ss_seterr(err, SS_ETARGET, (int)-got, "cannot read target file %s/%s",
                                 ss_target_root(t->eng->tgt), job->it->src->path);
            /* A short read (target shrank meanwhile) just means fewer
             * matching blocks; the partial one differs by length. */
            t->n = ss_sig_blocks(t->tbuf, (size_t)got, t->eng->bs, t->tsigs);
        }
        t->sp = t->tsigs;
        t->have = 1;
    }
    *sigs = t->sp;
    *n = t->n;
    return 0;
}

typedef struct {
    engine *eng;
    file_job *job;
    worker *w;
} sink_ctx;

static int all_zero(const unsigned char *p, size_t n)
{
    static const unsigned char zero[256];
    while (n >= sizeof zero) {
        if (memcmp(p, zero, sizeof zero))
            return 0;
        p += sizeof zero;
        n -= sizeof zero;
    }
    return n == 0 || memcmp(p, zero, n) == 0;
}

/* Complete every queued write of this worker. */
static int wait_writes(engine *e, worker *w, file_job *job, ss_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < w->nops; i++) {
        ssize_t r = ss_io_wait(w->pub.io, &w->ops[i]);
        /* A file system may want more alignment for O_DIRECT than we give
         * it (EINVAL): write that range through the cache instead. */
        if (r == -EINVAL && job->dfd >= 0 && w->ops[i].fd == job->dfd) {
            ss_err serr;
            w->ops[i].fd = job->fd;
            r = ss_io_submit(w->pub.io, &w->ops[i], &serr) < 0 ? -EIO
                                                              : ss_io_wait(w->pub.io, &w->ops[i]);
        }
        if ((r < 0 || (size_t)r != w->ops[i].len) && rc == 0)
            rc = ss_seterr(err, SS_ETARGET, r < 0 ? (int)-r : EIO, "cannot write %s/%s",
                           ss_target_root(e->tgt), job->it->src->path);
    }
    w->nops = 0;
    return rc;
}

static int queue_one(sink_ctx *s, int fd, uint64_t off, const void *data, size_t len, ss_err *err)
{
    worker *w = s->w;
    if (w->nops == w->maxops && wait_writes(s->eng, w, s->job, err) < 0)
        return -1;
    ss_io_op *op = &w->ops[w->nops++];
    /* Through the page cache a write is a copy: done here and now. */
    int cached = fd == s->job->fd;
    *op = (ss_io_op){ .fd = fd, .is_write = 1, .buf = (void *)data, .len = len, .off = off,
                      .now = cached };
    if (cached)
        w->cached_bytes += len;
    atomic_fetch_add(&s->job->written, len);
    return ss_io_submit(w->pub.io, op, err);
}

/* A new file's whole pages go around the page cache (O_DIRECT): copying
 * received data into freshly allocated cache pages costs more CPU than
 * everything else a network copy does (in a paravirtualised guest ~4
 * CPU-seconds per GiB, contended by the writers on one inode), the cache
 * would only have to be written back by the final syncfs, and a mirror's
 * new files evict the host's useful cache for nothing. The partial page at
 * a file's end, and anything unaligned, is written through the cache. */
static int queue_write(sink_ctx *s, uint64_t off, const void *data, size_t len, ss_err *err)
{
    int dfd = s->job->it->act == SS_ACT_COPY ? s->job->dfd : -1;
    if (dfd >= 0 && off % SS_DIRECT_ALIGN == 0 && (uintptr_t)data % SS_DIRECT_ALIGN == 0) {
        size_t whole = len / SS_DIRECT_ALIGN * SS_DIRECT_ALIGN;
        if (whole && queue_one(s, dfd, off, data, whole, err) < 0)
            return -1;
        off += whole;
        data = (const char *)data + whole;
        len -= whole;
    }
    return len ? queue_one(s, s->job->fd, off, data, len, err) : 0;
}

static int sink_fn(void *ctx, uint64_t off, const void *data, size_t len, ss_err *err)
{
    sink_ctx *s = ctx;
    engine *e = s->eng;
    file_job *job = s->job;
    atomic_fetch_add(&job->bytes, len);
    atomic_fetch_add(&e->ctr->bytes_transferred, len);
    if (job->it->act == SS_ACT_UPDATE) {
        uint64_t nb = ss_nblocks(len, e->bs);
        atomic_fetch_add(&job->blocks, nb);
        atomic_fetch_add(&e->ctr->blocks_changed, nb);
    }
    if (!e->writes)
        return 0;
    if (job->it->act != SS_ACT_COPY && off + len <= job->dst_size)
        return queue_write(s, off, data, len, err);
    /* New file, or past the old end of an updated one: leave all-zero blocks
     * as holes (the file is sized at the end), which keeps sparse files
     * sparse and saves writing zeros. */
    const unsigned char *p = data;
    size_t bs = e->bs, i = 0;
    if (off < job->dst_size) {
        size_t head = (size_t)(job->dst_size - off);
        if (queue_write(s, off, data, head, err) < 0)
            return -1;
        i = head;
    }
    while (i < len) {
        size_t n = len - i < bs ? len - i : bs;
        if (all_zero(p + i, n)) {
            i += n;
            continue;
        }
        size_t start = i;
        while (i < len) {
            n = len - i < bs ? len - i : bs;
            if (all_zero(p + i, n))
                break;
            i += n;
        }
        if (queue_write(s, off + start, p + start, i - start, err) < 0)
            return -1;
    }
    return 0;
}

/* The final syncfs must write back every page the run dirtied; started
 * only then, that is a wait at the end (a 1% differential of 1 GiB leaves
 * ~2,600 scattered 8 KiB pages: ~60 ms here; a local copy of 1 GiB through
 * the cache ~1 s). Starting write-back as soon as a chunk's (or a file's)
 * writes are done overlaps it with the rest of the run; the syncfs still makes it
 * durable and reports any failure. Advice only: errors are ignored here. */
static void start_writeback(const file_job *job, uint64_t off, uint64_t len)
{
    if (job->fd >= 0)
        (void)sync_file_range(job->fd, (off64_t)off, (off64_t)len, SYNC_FILE_RANGE_WRITE);
}

/* Each call submits I/O from this thread, and every submission is a
 * doorbell to the virtual disk (an exit to the hypervisor, tens of us in
 * a paravirtualised guest): a differential's few scattered blocks per
 * chunk (~780 chunks with writes for 1% of 1 GiB) are started once per
 * file when it is finished instead (~220 calls); a chunk that wrote this
 * much (a copy) still starts its own at once, so a big file's pages do
 * not pile up until its end. */
#define WRITEBACK_CHUNK_MIN (512u << 10)

/* ---- finishing a file ------------------------------------------------------ */

static void finalize(engine *e, file_job *job)
{
    const ss_plan_item *it = job->it;
    const ss_entry *s = it->src;
    uint64_t bytes = atomic_load(&job->bytes), blocks = atomic_load(&job->blocks);
    ss_err err;
    int rc = 0;

    if (atomic_load(&job->failed) || atomic_load(&job->vanished)) {
        if (job->fd >= 0)
            close(job->fd);
        if (job->tmprel)
            ss_target_discard_tmp(e->tgt, job->tmprel);
        if (!atomic_load(&job->failed))
            emit(e, SS_EV_SKIPPED, it->act, s->path, "vanished from the source while being read", 0, 0);
        goto out;
    }
    int resized = it->act == SS_ACT_UPDATE && job->dst_size != s->size;
    if (e->o->mode == SS_MODE_VERIFY) {
        if (resized || blocks)
            emit(e, SS_EV_DIFFERS, it->act, s->path, resized ? "size" : "content", bytes, blocks);
        else if (it->meta & (SS_META_MODE | SS_META_OWNER))
            emit(e, SS_EV_DIFFERS, SS_ACT_META, s->path, "attributes", 0, 0);
        if (job->fd >= 0)
            close(job->fd);
        goto out;
    }
    /* An update that changed nothing -- no byte written, same size, no
     * attribute differing, not made writable to be opened -- leaves the
     * file as it was: setting its mode and mtime again would only dirty
     * its inode for the final syncfs to write (one per file compared). */
    int untouched = it->act == SS_ACT_UPDATE && !resized && !it->meta && !job->chmodded &&
                    atomic_load(&job->written) == 0;
    if (e->writes && !untouched) {
        unsigned what = SS_META_MODE | (it->meta & SS_META_OWNER);
        if (it->act == SS_ACT_COPY)
            what |= SS_META_OWNER;
        if (e->o->mtime)
            what |= SS_META_MTIME;
        if (it->act == SS_ACT_COPY || resized) {
            if (ftruncate(job->fd, (off_t)s->size) < 0)
                rc = ss_seterr(&err, SS_ETARGET, errno, "cannot set size of %s/%s",
                               ss_target_root(e->tgt), s->path);
        }
        if (rc == 0)
            rc = ss_target_set_meta(e->tgt, job->fd, s->path, s, what, &err);
        if (rc == 0 && atomic_load(&job->wb_pending))
            start_writeback(job, 0, 0);
        if (close(job->fd) < 0 && rc == 0)
            rc = ss_seterr(&err, SS_ETARGET, errno, "cannot close %s/%s", ss_target_root(e->tgt), s->path);
        if (rc == 0 && it->act == SS_ACT_COPY)
            rc = ss_target_commit_tmp(e->tgt, job->tmprel, s->path, &err);
        if (rc < 0) {
            if (job->tmprel)
                ss_target_discard_tmp(e->tgt, job->tmprel);
            fail(e, &err);
            goto out;
        }
        atomic_fetch_add(&e->ctr->bytes_written, atomic_load(&job->written));
    } else if (job->fd >= 0) {
        close(job->fd);
    }
    if (it->act == SS_ACT_COPY) {
        atomic_fetch_add(&e->ctr->files_copied, 1);
        emit(e, SS_EV_ACTION, SS_ACT_COPY, s->path, NULL, s->size, 0);
    } else if (blocks || resized) {
        atomic_fetch_add(&e->ctr->files_updated, 1);
        emit(e, SS_EV_ACTION, SS_ACT_UPDATE, s->path, resized ? "resized" : NULL, bytes, blocks);
    } else if (it->meta) {
        emit(e, SS_EV_ACTION, SS_ACT_META, s->path, NULL, 0, 0);
    }
out:
    if (job->dfd >= 0)
        close(job->dfd);
    free(job->tmprel);
    free(job);
}

static void chunk_done(engine *e, file_job *job)
{
    if (atomic_fetch_sub(&job->chunks_left, 1) == 1)
        finalize(e, job);
}

/* ---- workers ------------------------------------------------------------------ */

typedef struct {
    engine *eng;
    worker w;
    pthread_t tid;
    int started;
} worker_slot;

/* After range() (or range_finish) returned rc for chunk c: finish its
 * writes (they still reference the worker's buffer) and account for it. */
static void range_done(engine *e, worker *w, const chunk *c, int rc, ss_err *err)
{
    file_job *job = c->job;
    ss_err werr;
    int wrc = wait_writes(e, w, job, &werr);
    if (wrc == 0 && w->cached_bytes >= WRITEBACK_CHUNK_MIN)
        start_writeback(job, c->off, c->len);
    else if (wrc == 0 && w->cached_bytes)
        atomic_store(&job->wb_pending, 1);
    w->cached_bytes = 0;
    if (rc == 1) {
        atomic_store(&job->vanished, 1);
        rc = 0;
    }
    if (rc == 0 && wrc < 0) {
        *err = werr;
        rc = -1;
    }
    if (rc < 0) {
        atomic_store(&job->failed, 1);
        fail(e, err);
        return;
    }
    atomic_fetch_add(&e->ctr->bytes_done, c->len);
}

static void process_chunk(engine *e, worker *w, const chunk *c)
{
    file_job *job = c->job;
    const ss_entry *s = job->it->src;
    ss_err err;
    if (atomic_load(&job->failed) || cancelled(e)) {
        atomic_store(&job->failed, 1);
        return;
    }
    if (atomic_load(&job->vanished))
        return;
    /* A dry-run copy needs no data: its size is the answer. */
    if (!e->writes && job->it->act == SS_ACT_COPY) {
        atomic_fetch_add(&job->bytes, c->len);
        atomic_fetch_add(&e->ctr->bytes_transferred, c->len);
        atomic_fetch_add(&e->ctr->bytes_done, c->len);
        return;
    }
    /* A whole new file from a source on this host: let the kernel copy. */
    if (e->writes && job->it->act == SS_ACT_COPY && e->src->ops->copy_to) {
        ss_range_req creq = { .path = s->path, .file_size = s->size, .off = c->off,
                              .len = c->len, .block_size = e->bs, .last = c->last };
        uint64_t wrote = 0;
        int crc = e->src->ops->copy_to(e->src, &creq, job->fd, &wrote, &err);
        if (crc == 0 || crc == 1) {
            if (crc == 1)
                atomic_store(&job->vanished, 1);
            atomic_fetch_add(&job->bytes, c->len);
            atomic_fetch_add(&e->ctr->bytes_transferred, c->len);
            atomic_fetch_add(&job->written, wrote);
            atomic_fetch_add(&e->ctr->bytes_done, c->len);
            if (wrote)
                start_writeback(job, c->off, c->len);
            return;
        }
        if (crc < 0) {
            atomic_store(&job->failed, 1);
            fail(e, &err);
            return;
        }
        /* 2: not possible here; fall through to reading and writing. */
    }
    ss_range_req req = {
        .path = s->path, .file_size = s->size, .off = c->off, .len = c->len,
        .block_size = e->bs, .last = c->last,
        .compare = job->it->act == SS_ACT_UPDATE && !c->fetch_all,
    };
    tsig_ctx tc = { e, job, w, c->off, c->len, 0, 0, w->tbuf, w->tsigs, NULL };
    sink_ctx sc = { e, job, w };
    w->nops = 0;
    int rc = e->src->ops->range(e->src, &w->pub, &req, tsig_fn, &tc, sink_fn, &sc, &err);
    range_done(e, w, c, rc, &err);
}

/* ---- batches of requests to a remote source ------------------------------- */

/* A worker talking to another host sleeps until each answer arrives, and
 * each of those sleeps (and the agent's matching hand-offs) costs a futex
 * round trip and context switches that, on a differential where almost
 * every answer is "nothing differs", cost more CPU than the answers. So a
 * worker takes as many compared chunks as fit in 1 MiB (small files, one
 * chunk each, are most of a data directory's files), sends all of their
 * requests, and then collects the answers in order. */
#define BATCH_MAX 16

static size_t batch_room(size_t len)
{
    return (len + SS_DIRECT_ALIGN - 1) / SS_DIRECT_ALIGN * SS_DIRECT_ALIGN;
}

static int batchable(const engine *e, const chunk *c)
{
    return e->src->ops->range_start && c->job->it->act == SS_ACT_UPDATE;
}

/* Whether the chunk needs no read of the target: tsig_fn will find its
 * signatures in presig (or there are none to read). */
static int presig_covers(const engine *e, const chunk *c)
{
    if (!e->o->presig || c->fetch_all)
        return 0;
    uint64_t want = target_want(c->job, c->off, c->len);
    const ss_sig *sigs;
    size_t n;
    return want == 0 || presig_sigs(e, c->job, c->off, want, &sigs, &n);
}

static void process_batch(engine *e, worker *w, const chunk *b, size_t n)
{
    ss_range_op *ops[BATCH_MAX];
    tsig_ctx tcs[BATCH_MAX];
    size_t boff = 0, soff = 0;
    ss_err err;
    for (size_t i = 0; i < n; i++) {
        const chunk *c = &b[i];
        file_job *job = c->job;
        ops[i] = NULL;
        if (atomic_load(&job->failed) || cancelled(e)) {
            atomic_store(&job->failed, 1);
            continue;
        }
        if (atomic_load(&job->vanished))
            continue;
        const ss_entry *s = job->it->src;
        ss_range_req req = {
            .path = s->path, .file_size = s->size, .off = c->off, .len = c->len,
            .block_size = e->bs, .last = c->last, .compare = !c->fetch_all,
        };
        tcs[i] = (tsig_ctx){ e, job, w, c->off, c->len, 0, 0, (char *)w->tbuf + boff,
                             w->tsigs + soff, NULL };
        if (e->src->ops->range_start(e->src, &req, (char *)w->pub.buf + boff, tsig_fn, &tcs[i],
                                     &ops[i], &err) < 0) {
            ops[i] = NULL;
            atomic_store(&job->failed, 1);
            fail(e, &err);
            continue;
        }
        boff += batch_room(c->len);
        soff += (size_t)ss_nblocks(c->len, e->bs);
    }
    for (size_t i = 0; i < n; i++) {
        if (ops[i]) {
            sink_ctx sc = { e, b[i].job, w };
            w->nops = 0;
            int rc = e->src->ops->range_finish(e->src, ops[i], sink_fn, &sc, &err);
            range_done(e, w, &b[i], rc, &err);
        }
        chunk_done(e, b[i].job);
    }
}

static void *worker_main(void *arg)
{
    worker_slot *ws = arg;
    engine *e = ws->eng;
    chunk c;
    int have = 0;
    for (;;) {
        if (!have && ss_workq_pop(&e->q, &c) < 0)
            break;
        have = 0;
        if (!batchable(e, &c)) {
            process_chunk(e, &ws->w, &c);
            chunk_done(e, c.job);
            continue;
        }
        /* Two bounds: the answers must fit the worker's buffer, and no more
         * of the target may be read for one batch than one compared chunk
         * (a larger batch spreads the reads over more memory than the CPU
         * caches hold, and copying out of the page cache gets slower than
         * the wake-ups saved: 4 MiB of reads per batch cost more CPU than
         * no batching). Chunks whose signatures were hashed ahead (presig)
         * read nothing, so then up to 4 MiB are in flight per worker: with
         * one 1 MiB chunk per worker, 4 workers could not keep an agent
         * behind ssh busy (its requests took 0.2 ms, the round trip more). */
        chunk b[BATCH_MAX];
        size_t n = 0, room = 0, reads = 0;
        size_t read_max = ws->w.pub.buf_size < COMPARE_CHUNK ? ws->w.pub.buf_size
                                                             : COMPARE_CHUNK;
        for (;;) {
            size_t r = batch_room(c.len), rd = presig_covers(e, &c) ? 0 : r;
            if (n > 0 && (!batchable(e, &c) || room + r > ws->w.pub.buf_size ||
                          reads + rd > read_max)) {
                have = 1;       /* process it next */
                break;
            }
            b[n++] = c;
            room += r;
            reads += rd;
            if (n == BATCH_MAX || ss_workq_trypop(&e->q, &c) < 0)
                break;
        }
        process_batch(e, &ws->w, b, n);
    }
    return NULL;
}

static void worker_free(worker *w)
{
    ss_io_close(w->pub.io);
    free(w->pub.buf);
    free(w->tbuf);
    free(w->pub.sigs);
    free(w->tsigs);
    free(w->ops);
}

static int worker_init(engine *e, worker *w, ss_err *err)
{
    memset(w, 0, sizeof *w);
    size_t nsig = e->chunk_size / e->bs + 1;
    if (ss_io_open(&w->pub.io, e->o->io, IO_DEPTH, err) < 0)
        return -1;
    /* Slack past the chunk: a direct read rounds its length up. */
    size_t bufsz = e->chunk_size + SS_DIRECT_ALIGN;
    w->pub.buf = ss_iobuf_alloc(bufsz, NULL);
    w->tbuf = ss_iobuf_alloc(bufsz, NULL);
    if (!w->pub.buf || !w->tbuf) {
        worker_free(w);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot allocate buffers");
    }
    w->pub.buf_size = e->chunk_size;
    w->pub.sigs = calloc(nsig, sizeof(ss_sig));
    w->tsigs = calloc(nsig + BATCH_MAX, sizeof(ss_sig));   /* a batch's partial blocks */
    w->maxops = nsig < IO_DEPTH ? nsig : IO_DEPTH;
    w->ops = calloc(w->maxops, sizeof *w->ops);
    if (!w->pub.sigs || !w->tsigs || !w->ops) {
        worker_free(w);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot allocate buffers");
    }
    return 0;
}

/* ---- phases ------------------------------------------------------------------- */

static int is_under(const char *path, const char *dir, size_t dirlen)
{
    return dirlen && strncmp(path, dir, dirlen) == 0 && path[dirlen] == '/';
}

static const char *diff_reason(const ss_plan_item *it)
{
    if (!it->dst)
        return "missing in target";
    if (it->remove_first && it->dst->type != it->src->type)
        return "type differs";
    if (it->act == SS_ACT_SYMLINK)
        return "symlink target differs";
    return "attributes differ";
}

/* Removals, then directories and symlinks, on the calling thread and in
 * listing order, so a parent always exists before its contents. */
static int prepare_tree(engine *e, ss_plan_item *items, size_t n, ss_err *err)
{
    const char *gone = NULL;
    size_t gone_len = 0;
    for (size_t i = 0; i < n; i++) {
        ss_plan_item *it = &items[i];
        if (it->act != SS_ACT_DELETE && !it->remove_first)
            continue;
        const char *p = it->dst->path;
        if (gone && is_under(p, gone, gone_len)) {
            if (it->act == SS_ACT_DELETE)
                atomic_fetch_add(&e->ctr->files_deleted, 1);
            continue;
        }
        if (e->o->mode == SS_MODE_VERIFY) {
            emit(e, SS_EV_DIFFERS, it->act, p, it->act == SS_ACT_DELETE ? "extra in target" : "type differs", 0, 0);
        } else {
            if (e->writes && ss_target_remove(e->tgt, p, err) < 0)
                return -1;
            if (it->act == SS_ACT_DELETE) {
                atomic_fetch_add(&e->ctr->files_deleted, 1);
                emit(e, SS_EV_ACTION, SS_ACT_DELETE, p, NULL, 0, 0);
            }
        }
        if (it->dst->type == SS_FT_DIR) {
            gone = p;
            gone_len = strlen(p);
        }
    }
    for (size_t i = 0; i < n; i++) {
        ss_plan_item *it = &items[i];
        if (cancelled(e))
            return -1;
        if (it->act != SS_ACT_MKDIR && it->act != SS_ACT_SYMLINK &&
            !(it->act == SS_ACT_META && it->src->type == SS_FT_LNK))
            continue;
        if (e->o->mode == SS_MODE_VERIFY) {
            if (it->act != SS_ACT_META || (it->meta & ~SS_META_MTIME))
                emit(e, SS_EV_DIFFERS, it->act, it->src->path, diff_reason(it), 0, 0);
            continue;
        }
        if (e->writes) {
            int rc = 0;
            if (it->act == SS_ACT_MKDIR)
                rc = ss_target_mkdir(e->tgt, it->src->path, err);
            else if (it->act == SS_ACT_SYMLINK)
                rc = ss_target_symlink(e->tgt, it->src->path, it->src->link, it->src, err);
            else
                rc = ss_target_set_meta(e->tgt, -1, it->src->path, it->src, it->meta, err);
            if (rc < 0)
                return -1;
        }
        if (it->act == SS_ACT_MKDIR)
            atomic_fetch_add(&e->ctr->dirs_created, 1);
        else if (it->act == SS_ACT_SYMLINK)
            atomic_fetch_add(&e->ctr->links_created, 1);
        emit(e, SS_EV_ACTION, it->act, it->src->path, it->src->link, 0, 0);
    }
    return 0;
}

/* The ranges of one file to process, produced one at a time so a huge
 * file never needs a list in memory. */
typedef struct {
    uint64_t size, pos;             /* uniform chunks over [pos, size) */
    uint64_t step;                  /* of this many bytes */
    const uint32_t *blocks;         /* known differing blocks, or NULL */
    size_t nblocks, bi;
    uint64_t tail;                  /* known mode: [tail, size) is new */
} range_iter;

static int next_range(engine *e, range_iter *ri, chunk *c)
{
    uint64_t bs = e->bs;
    if (ri->blocks) {
        while (ri->bi < ri->nblocks && (uint64_t)ri->blocks[ri->bi] * bs >= ri->tail)
            ri->bi++;   /* past the old end: the tail covers it */
        if (ri->bi < ri->nblocks) {
            uint64_t first = ri->blocks[ri->bi++], last = first;
            while (ri->bi < ri->nblocks && ri->blocks[ri->bi] == last + 1 &&
                   (last + 2 - first) * bs <= e->chunk_size && (uint64_t)(last + 1) * bs < ri->tail)
                last = ri->blocks[ri->bi++];
            c->off = first * bs;
            uint64_t end = (last + 1) * bs;
            c->len = (end < ri->size ? end : ri->size) - c->off;
            c->fetch_all = 1;
            c->last = 0;
            return 1;
        }
        if (ri->pos < ri->tail)
            ri->pos = ri->tail;
    }
    if (ri->pos >= ri->size)
        return 0;
    c->off = ri->pos;
    c->len = ri->size - ri->pos < ri->step ? ri->size - ri->pos : ri->step;
    c->fetch_all = ri->blocks != NULL;
    ri->pos += c->len;
    c->last = ri->pos == ri->size;
    return 1;
}

static int start_file(engine *e, ss_plan_item *it, ss_err *err)
{
    file_job *job = calloc(1, sizeof *job);
    if (!job)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    job->eng = e;
    job->it = it;
    job->fd = -1;
    job->dfd = -1;
    const ss_entry *s = it->src;
    range_iter ri = { .size = s->size, .step = e->chunk_size };
    if (it->act == SS_ACT_UPDATE && !e->o->chunk_size && e->chunk_size > COMPARE_CHUNK)
        ri.step = COMPARE_CHUNK;
    if (it->act == SS_ACT_UPDATE) {
        job->dst_size = it->dst->size;
        if (e->o->known_blocks &&
            e->o->known_blocks(e->o->known_ctx, s->path, &ri.blocks, &ri.nblocks) == 1) {
            ri.tail = job->dst_size / e->bs * e->bs;
            if (ri.tail > s->size)
                ri.tail = s->size;
            static const uint32_t none[1];
            if (!ri.blocks) {
                ri.blocks = none;
                ri.nblocks = 0;
            }
        }
        job->fd = ss_target_open_update(e->tgt, s->path, !e->writes, &job->chmodded, err);
        if (job->fd >= 0 && job->dst_size >= SS_DIRECT_MIN && !ri.blocks) {
            ss_rfile rf = { job->fd, -1 };
            ss_rfile_direct(&rf);
            job->dfd = rf.dfd;
        }
    } else if (e->writes) {
        job->fd = ss_target_create_tmp(e->tgt, s->path, &job->tmprel, err);
        /* A source on this host copies in the kernel (copy_to) instead. */
        if (job->fd >= 0 && s->size >= SS_DIRECT_ALIGN && !e->src->ops->copy_to)
            job->dfd = ss_reopen_direct(job->fd, O_WRONLY);
    }
    if ((it->act == SS_ACT_UPDATE || e->writes) && job->fd < 0) {
        free(job);
        return -1;
    }
    /* One reference for this producer, one per queued chunk: whoever drops
     * the last finishes the file, whatever the order. */
    atomic_store(&job->chunks_left, 1);
    chunk c = { .job = job };
    while (next_range(e, &ri, &c)) {
        if (cancelled(e) || atomic_load(&job->failed)) {
            atomic_store(&job->failed, 1);
            break;
        }
        atomic_fetch_add(&job->chunks_left, 1);
        if (ss_workq_push(&e->q, &c) < 0) {
            atomic_fetch_sub(&job->chunks_left, 1);
            atomic_store(&job->failed, 1);
            break;
        }
    }
    chunk_done(e, job);
    return 0;
}

static int move_data(engine *e, ss_plan_item *items, size_t n, ss_err *err)
{
    unsigned jobs = e->o->jobs;
    if (jobs == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        jobs = c > 0 ? (unsigned)c : 1;
    }
    if (ss_workq_init(&e->q, sizeof(chunk), 4 * jobs + 16) < 0)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    worker_slot *ws = calloc(jobs, sizeof *ws);
    int rc = 0;
    if (!ws) {
        ss_workq_destroy(&e->q);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    }
    for (unsigned i = 0; i < jobs && rc == 0; i++) {
        ws[i].eng = e;
        if (worker_init(e, &ws[i].w, err) < 0)
            rc = -1;
        else if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) {
            worker_free(&ws[i].w);
            rc = ss_seterr(err, SS_EINTERNAL, errno, "cannot start worker thread");
        } else
            ws[i].started = 1;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        ss_plan_item *it = &items[i];
        if (cancelled(e))
            break;
        if (it->act == SS_ACT_COPY && e->o->mode == SS_MODE_VERIFY) {
            /* Nothing to compare: the target has no file of that name. */
            emit(e, SS_EV_DIFFERS, SS_ACT_COPY, it->src->path, diff_reason(it), it->src->size, 0);
            continue;
        }
        if (it->act == SS_ACT_COPY || it->act == SS_ACT_UPDATE) {
            ss_err ferr;
            if (start_file(e, it, &ferr) < 0)
                fail(e, &ferr);
        }
    }
    ss_workq_close(&e->q);
    for (unsigned i = 0; i < jobs; i++)
        if (ws[i].started) {
            pthread_join(ws[i].tid, NULL);
            worker_free(&ws[i].w);
        }
    free(ws);
    ss_workq_destroy(&e->q);
    return rc;
}

/* Directory attributes last and deepest first: writing into a directory
 * changes its mtime, and a read-only directory would refuse its contents. */
static int finish_dirs(engine *e, ss_plan_item *items, size_t n, const ss_entry *root,
                       ss_err *err)
{
    for (size_t i = n; i-- > 0;) {
        ss_plan_item *it = &items[i];
        if (!it->src || it->src->type != SS_FT_DIR)
            continue;
        if (it->act == SS_ACT_META && e->o->mode == SS_MODE_VERIFY) {
            if (it->meta & (SS_META_MODE | SS_META_OWNER))
                emit(e, SS_EV_DIFFERS, SS_ACT_META, it->src->path, "attributes differ", 0, 0);
            continue;
        }
        if (!e->writes)
            continue;
        unsigned what = SS_META_MODE | (e->o->mtime ? SS_META_MTIME : 0);
        if (it->act == SS_ACT_MKDIR || (it->meta & SS_META_OWNER))
            what |= SS_META_OWNER;
        if (ss_target_set_meta(e->tgt, -1, it->src->path, it->src, what, err) < 0)
            return -1;
    }
    /* The root last, as rsync -a does for "SRC/ DST/". */
    if (e->writes && root->type == SS_FT_DIR &&
        ss_target_set_meta(e->tgt, ss_target_rootfd(e->tgt), ".", root,
                           SS_META_MODE | (e->o->mtime ? SS_META_MTIME : 0) |
                               (e->o->target.owner == SS_OWNER_SOURCE ? SS_META_OWNER : 0),
                           err) < 0)
        return -1;
    return 0;
}

static int build_plan(engine *e, const ss_entry_list *sl, const ss_entry_list *dl,
                      ss_plan_item **out, size_t *nout, ss_err *err)
{
    ss_plan_opts po = {
        .full = e->o->mode == SS_MODE_FULL,
        .owner = e->o->target.owner == SS_OWNER_SOURCE,
        .mtime = e->o->mtime && e->o->mode != SS_MODE_VERIFY,
        .compare_only = e->o->mode == SS_MODE_VERIFY,
    };
    ss_plan_item *items = calloc(sl->n + dl->n + 1, sizeof *items);
    if (!items)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    size_t i = 0, j = 0, n = 0;
    while (i < sl->n || j < dl->n) {
        int c = i == sl->n ? 1 : j == dl->n ? -1 : ss_path_cmp(sl->v[i].path, dl->v[j].path);
        const ss_entry *s = c <= 0 ? &sl->v[i++] : NULL;
        const ss_entry *d = c >= 0 ? &dl->v[j++] : NULL;
        items[n++] = ss_plan_decide(s, d, &po);
        if (s && s->type == SS_FT_REG) {
            atomic_fetch_add(&e->ctr->files_total, 1);
            if (items[n - 1].act == SS_ACT_COPY || items[n - 1].act == SS_ACT_UPDATE)
                atomic_fetch_add(&e->ctr->bytes_total, s->size);
        }
    }
    *out = items;
    *nout = n;
    return 0;
}

int ss_sync(ss_source *src, const char *target_root, const ss_sync_opts *o,
            ss_counters *ctr, ss_err *err)
{
    engine e = { .src = src, .o = o, .ctr = ctr };
    e.bs = o->block_size ? o->block_size : 8192;
    size_t cs = o->chunk_size ? o->chunk_size : DEFAULT_CHUNK;
    e.chunk_size = cs < e.bs ? e.bs : cs / e.bs * e.bs;
    e.writes = !o->dry_run && o->mode != SS_MODE_VERIFY;
    pthread_mutex_init(&e.err_mu, NULL);

    ss_entry_list sl = {0}, dl = {0};
    ss_plan_item *items = NULL;
    size_t n = 0;
    int rc = -1;

    atomic_store(&ctr->block_size, e.bs);
    atomic_store(&ctr->phase, SS_PHASE_LIST);
    /* The source is listed (and so reached and checked) before anything in
     * the target is touched. */
    if (src->ops->list(src, &sl, err) < 0)
        goto out;
    ss_target_opts to = o->target;
    to.create_root = e.writes;
    if (!e.writes) {
        struct stat st;
        if (stat(target_root, &st) < 0 && errno == ENOENT) {
            /* Dry-run into a missing target: everything would be created. */
            to.create_root = 0;
        }
    }
    if (ss_target_open(&e.tgt, target_root, &to, err) < 0) {
        if (e.writes || err->sys_errno != ENOENT)
            goto out;
        e.tgt = NULL;
    }
    if (e.tgt) {
        ss_walk_opts wo = { .keep_other = 1 };
        if (o->target_walk) {
            wo = *o->target_walk;
            wo.keep_other = 1;
        }
        if (ss_walk_fd(ss_target_rootfd(e.tgt), target_root, &wo, &dl, err) < 0) {
            err->kind = SS_ETARGET;
            goto out;
        }
    }
    if (build_plan(&e, &sl, &dl, &items, &n, err) < 0)
        goto out;
    if (!e.tgt) {
        /* Nothing to open: report the plan for an empty target. */
        for (size_t i = 0; i < n; i++)
            if (items[i].act != SS_ACT_NONE)
                emit(&e, o->mode == SS_MODE_VERIFY ? SS_EV_DIFFERS : SS_EV_ACTION, items[i].act,
                     items[i].src->path, "missing in target", items[i].src->size, 0);
        rc = o->mode == SS_MODE_VERIFY && n ? 1 : 0;
        goto out;
    }

    atomic_store(&ctr->phase, SS_PHASE_PREPARE);
    if (prepare_tree(&e, items, n, err) < 0) {
        if (e.has_err)
            *err = e.err;
        goto out;
    }
    atomic_store(&ctr->phase, SS_PHASE_DATA);
    /* What was hashed ahead is final from here (and no longer competes
     * with the workers for the CPU). */
    ss_presig_stop(o->presig);
    if (move_data(&e, items, n, err) < 0)
        goto out;
    if (e.has_err) {
        *err = e.err;
        goto out;
    }
    if (o->source_done)
        o->source_done(o->source_done_ctx);
    atomic_store(&ctr->phase, SS_PHASE_FINISH);
    if (finish_dirs(&e, items, n, &sl.root, err) < 0)
        goto out;
    if (e.writes) {
        atomic_store(&ctr->phase, SS_PHASE_SYNC);
        if (ss_target_sync(e.tgt, err) < 0)
            goto out;
    }
    atomic_store(&ctr->phase, SS_PHASE_DONE);
    rc = atomic_load(&e.differs) ? 1 : 0;
out:
    free(items);
    ss_entry_list_free(&sl);
    ss_entry_list_free(&dl);
    ss_target_close(e.tgt);
    pthread_mutex_destroy(&e.err_mu);
    return rc;
}
