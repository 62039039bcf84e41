/* presig.c — hash the target while the connection to the source is made. */
#include "engine/presig.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/fileread.h"
#include "engine/pathsafe.h"
#include "engine/walk.h"

/* Read piece: small enough that the bytes are still in the CPU caches when
 * they are hashed (see COMPARE_CHUNK in sync.c). */
#define PIECE (1u << 20)

typedef struct {
    char *path;
    uint64_t size;
    int64_t mtime_sec;
    long mtime_nsec;
    size_t first, n;        /* its signatures: sigs[first .. first + n) */
} pfile;

struct ss_presig {
    char *root;
    uint32_t bs;
    size_t max_sigs;
    pthread_t thread;
    int joined;
    atomic_int stop;
    /* Written by the thread only; read by others only after the join. */
    pfile *files;
    size_t nfiles, cap_files;
    ss_sig *sigs;
    size_t nsigs, cap_sigs;
    uint64_t bytes;
};

static int same_stat(const struct stat *st, const ss_entry *e)
{
    return S_ISREG(st->st_mode) && (uint64_t)st->st_size == e->size &&
           (int64_t)st->st_mtim.tv_sec == e->mtime_sec && st->st_mtim.tv_nsec == e->mtime_nsec;
}

static int reserve(ss_presig *p, size_t more_sigs)
{
    if (p->nfiles == p->cap_files) {
        size_t cap = p->cap_files ? p->cap_files * 2 : 256;
        pfile *f = realloc(p->files, cap * sizeof *f);
        if (!f)
            return -1;
        p->files = f;
        p->cap_files = cap;
    }
    if (p->nsigs + more_sigs > p->cap_sigs) {
        size_t cap = p->cap_sigs ? p->cap_sigs : 1u << 16;
        while (cap < p->nsigs + more_sigs)
            cap *= 2;
        if (cap > p->max_sigs)
            cap = p->max_sigs;
        ss_sig *s = realloc(p->sigs, cap * sizeof *s);
        if (!s)
            return -1;
        p->sigs = s;
        p->cap_sigs = cap;
    }
    return 0;
}

/* Hash one file into the signatures after the last kept one; keep it only
 * if it was read whole and did not change meanwhile. 0 go on, -1 stop. */
static int hash_file(ss_presig *p, int rootfd, const ss_entry *e, void *buf, size_t piece)
{
    size_t nb = ss_nblocks(e->size, p->bs);
    if (p->nsigs + nb > p->max_sigs)
        return -1;      /* budget spent: the rest is read on demand */
    if (reserve(p, nb) < 0)
        return -1;
    int fd = ss_open_beneath(rootfd, e->path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && same_stat(&st, e);
    uint64_t off = 0;
    while (ok && off < e->size) {
        if (atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            close(fd);
            return -1;
        }
        size_t want = e->size - off < piece ? (size_t)(e->size - off) : piece;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got != (ssize_t)want) {
            ok = 0;     /* error or shrank: leave it to the engine */
            break;
        }
        ss_sig_blocks(buf, want, p->bs, p->sigs + p->nsigs + off / p->bs);
        off += want;
    }
    if (ok)
        ok = fstat(fd, &st) == 0 && same_stat(&st, e);
    close(fd);
    if (!ok)
        return 0;
    pfile *f = &p->files[p->nfiles];
    if (!(f->path = strdup(e->path)))
        return -1;
    f->size = e->size;
    f->mtime_sec = e->mtime_sec;
    f->mtime_nsec = e->mtime_nsec;
    f->first = p->nsigs;
    f->n = nb;
    p->nfiles++;
    p->nsigs += nb;
    p->bytes += e->size;
    return 0;
}

static void *presig_main(void *arg)
{
    ss_presig *p = arg;
    /* Only idle CPU time: the login this overlaps is CPU work too (key
     * exchange on both ends, and on a small host both ends may share the
     * CPUs), and slowing it down would cost more than hashing ahead saves.
     * Failing to lower the priority is harmless. */
    struct sched_param sp = { 0 };
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    int rootfd = open(p->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rootfd < 0)
        return NULL;
    ss_entry_list l = { 0 };
    ss_err err;
    ss_walk_opts wo = { 0 };
    size_t piece = PIECE / p->bs * p->bs;
    if (piece == 0)
        piece = p->bs;
    void *buf = ss_iobuf_alloc(piece, NULL);
    if (buf && ss_walk_fd(rootfd, p->root, &wo, &l, &err) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            if (atomic_load_explicit(&p->stop, memory_order_relaxed))
                break;
            if (l.v[i].type == SS_FT_REG && hash_file(p, rootfd, &l.v[i], buf, piece) < 0)
                break;
        }
    }
    free(buf);
    ss_entry_list_free(&l);
    close(rootfd);
    return NULL;
}

int ss_presig_start(ss_presig **out, const char *root, uint32_t block_size, size_t budget,
                    ss_err *err)
{
    *out = NULL;
    if (block_size == 0)
        return ss_seterr(err, SS_EINTERNAL, 0, "presig: block size 0");
    ss_presig *p = calloc(1, sizeof *p);
    if (!p || !(p->root = strdup(root))) {
        free(p);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    }
    p->bs = block_size;
    p->max_sigs = budget / sizeof(ss_sig);
    atomic_init(&p->stop, 0);
    if (pthread_create(&p->thread, NULL, presig_main, p) != 0) {
        int e = errno;
        free(p->root);
        free(p);
        return ss_seterr(err, SS_EINTERNAL, e, "cannot start a thread");
    }
    *out = p;
    return 0;
}

void ss_presig_wait(ss_presig *p)
{
    if (!p || p->joined)
        return;
    pthread_join(p->thread, NULL);
    p->joined = 1;
}

void ss_presig_stop(ss_presig *p)
{
    if (!p || p->joined)
        return;
    atomic_store(&p->stop, 1);
    ss_presig_wait(p);
}

int ss_presig_lookup(const ss_presig *p, const char *path, uint64_t size, int64_t mtime_sec,
                     long mtime_nsec, uint32_t block_size, uint64_t off, uint64_t len,
                     const ss_sig **sigs, size_t *n)
{
    if (!p || !p->joined || block_size != p->bs || off % p->bs || off > size ||
        len > size - off)
        return 0;
    /* A range ending inside a block that the file goes on past: that
     * block's signature here covers bytes beyond the range (the engine
     * hashes only those in it, when the source is the shorter file). */
    if ((off + len) % p->bs != 0 && off + len != size)
        return 0;
    size_t lo = 0, hi = p->nfiles;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ss_path_cmp(p->files[mid].path, path);
        if (c == 0) {
            const pfile *f = &p->files[mid];
            if (f->size != size || f->mtime_sec != mtime_sec || f->mtime_nsec != mtime_nsec)
                return 0;
            *sigs = p->sigs + f->first + off / p->bs;
            *n = ss_nblocks(len, p->bs);
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

void ss_presig_stats(const ss_presig *p, size_t *files, uint64_t *bytes)
{
    *files = p && p->joined ? p->nfiles : 0;
    *bytes = p && p->joined ? p->bytes : 0;
}

void ss_presig_free(ss_presig *p)
{
    if (!p)
        return;
    ss_presig_stop(p);
    for (size_t i = 0; i < p->nfiles; i++)
        free(p->files[i].path);
    free(p->files);
    free(p->sigs);
    free(p->root);
    free(p);
}
