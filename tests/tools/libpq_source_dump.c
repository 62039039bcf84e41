/* libpq_source_dump — drive engine/source_libpq from a test: list a running
 * server's data directory, read files through range() and read_file(),
 * compare a file with a local copy block by block, and time reads.
 *
 *   libpq_source_dump [-s SUB] [-j NCONN] [-x PATH]... list CONNINFO
 *       one line per entry: "TYPE MODE SIZE PATH" (TYPE f, d or l; MODE in
 *       octal; SIZE 0 for directories and links), links followed by
 *       " -> TARGET"; -x leaves
 *       PATH (and, for a directory, its contents) out through the walk
 *       filter, as a recovery's exclusion rules would
 *   libpq_source_dump [-s SUB] [-j NCONN] [-c CHUNK] [-z SIZE] read CONNINFO PATH OUT
 *       the whole file through range() in CHUNK-byte chunks into OUT, NCONN
 *       threads taking chunks in turn; -z: take SIZE as the listed size
 *       instead of listing (a vanished or shrunk file); -L: open the
 *       source not live
 *   libpq_source_dump readfile CONNINFO PATH OUT [MAX]
 *   libpq_source_dump [-s SUB] diff CONNINFO PATH LOCALFILE
 *       range() with compare against LOCALFILE's block signatures: prints
 *       "blocks N bytes M" (blocks that differ, bytes the source sent)
 *   libpq_source_dump [-s SUB] [-j NCONN] [-x PATH]... sync CONNINFO TARGET full|diff
 *       ss_sync from the server into TARGET with NCONN worker threads (and
 *       connections); prints the counters as "name value" lines
 *   libpq_source_dump [-s SUB] [-j NCONN] bench CONNINFO PATH ROUNDS
 *       reads PATH ROUNDS times with NCONN threads (one connection each),
 *       prints each round's MB/s and the median
 *
 * Exit: 0 ok, 3 the file does not exist / vanished, 1 error (the engine's
 * message on stderr), 2 usage. */
#include "engine/blocksig.h"
#include "engine/source.h"
#include "engine/source_libpq.h"
#include "engine/sync.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BS 8192u

static const char *sub = "";
static unsigned nconn = 1;
static size_t chunk = 4u << 20;
static int live = 1;            /* -L: not live (vanish/shrink/growth are errors) */
static uint64_t force_size;     /* -z: use this size, skip the listing */
static const char *excl[32];
static unsigned nexcl;

static int die_err(const char *what, const ss_err *e)
{
    fprintf(stderr, "libpq_source_dump: %s: %s\n", what, e->msg);
    return 1;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: libpq_source_dump [-s SUB] [-j NCONN] [-c CHUNK] [-x PATH]... "
            "list|read|readfile|diff|sync|bench CONNINFO [ARGS]\n");
    return 2;
}

static int exclude_filter(void *ctx, const char *path, const struct stat *st)
{
    (void)ctx;
    (void)st;
    for (unsigned i = 0; i < nexcl; i++)
        if (!strcmp(path, excl[i]))
            return 0;
    return 1;
}

static int worker_init(ss_worker *w)
{
    memset(w, 0, sizeof *w);
    w->buf_size = chunk;
    w->buf = malloc(chunk);
    w->sigs = malloc((chunk / BS + 1) * sizeof *w->sigs);
    return w->buf && w->sigs ? 0 : -1;
}

static void worker_free(ss_worker *w)
{
    free(w->buf);
    free(w->sigs);
}

/* The listed entry for path, so range() gets the listed size. */
static int find_entry(ss_source *s, const char *path, uint64_t *size)
{
    if (force_size) {
        *size = force_size;
        return 0;
    }
    ss_entry_list l;
    ss_err e;
    if (s->ops->list(s, &l, &e) < 0)
        return die_err("list", &e);
    int rc = 3;
    for (size_t i = 0; i < l.n; i++)
        if (!strcmp(l.v[i].path, path) && l.v[i].type == SS_FT_REG) {
            *size = l.v[i].size;
            rc = 0;
        }
    ss_entry_list_free(&l);
    if (rc == 3)
        fprintf(stderr, "libpq_source_dump: %s is not a listed regular file\n", path);
    return rc;
}

typedef struct {
    int fd;
    uint64_t sent, blocks;
} sink_state;

static int write_sink(void *ctx, uint64_t off, const void *data, size_t len, ss_err *err)
{
    sink_state *st = ctx;
    st->sent += len;
    st->blocks += ss_nblocks(len, BS);
    if (st->fd < 0)
        return 0;
    if (pwrite(st->fd, data, len, (off_t)off) != (ssize_t)len)
        return ss_seterr(err, SS_ETARGET, 0, "short write");
    return 0;
}

/* Target signatures from a local file, for diff. */
typedef struct {
    int fd;
    uint64_t off, len;
    ss_sig *sigs;
    size_t n;
    void *buf;
} tsig_state;

static int local_tsig(void *ctx, const ss_sig **sigs, size_t *n, ss_err *err)
{
    tsig_state *t = ctx;
    ssize_t got = pread(t->fd, t->buf, (size_t)t->len, (off_t)t->off);
    if (got < 0)
        return ss_seterr(err, SS_ETARGET, 0, "cannot read the local file");
    t->n = ss_sig_blocks(t->buf, (size_t)got, BS, t->sigs);
    *sigs = t->sigs;
    *n = t->n;
    return 0;
}

static int cmd_list(ss_source *s)
{
    ss_entry_list l;
    ss_err e;
    if (s->ops->list(s, &l, &e) < 0)
        return die_err("list", &e);
    for (size_t i = 0; i < l.n; i++) {
        const ss_entry *x = &l.v[i];
        char t = x->type == SS_FT_DIR ? 'd' : x->type == SS_FT_LNK ? 'l' : 'f';
        printf("%c %o %" PRIu64 " %s", t, (unsigned)x->mode, x->type == SS_FT_REG ? x->size : 0,
               x->path);
        if (x->link)
            printf(" -> %s", x->link);
        putchar('\n');
    }
    ss_entry_list_free(&l);
    return 0;
}

/* Read or compare the whole of path, chunk by chunk, on one thread. */
static int whole_file(ss_source *s, const char *path, int fd, int cmpfd, sink_state *st)
{
    uint64_t size;
    int rc = find_entry(s, path, &size);
    if (rc)
        return rc;
    ss_worker w;
    tsig_state ts = { cmpfd, 0, 0, NULL, 0, NULL };
    if (worker_init(&w) < 0 || !(ts.sigs = malloc((chunk / BS + 1) * sizeof *ts.sigs)) ||
        !(ts.buf = malloc(chunk))) {
        fprintf(stderr, "libpq_source_dump: out of memory\n");
        return 1;
    }
    st->fd = fd;
    for (uint64_t off = 0; off < size && rc == 0; off += chunk) {
        ss_range_req req = {
            .path = path, .file_size = size, .off = off,
            .len = size - off < chunk ? size - off : chunk, .block_size = BS,
            .last = off + chunk >= size, .compare = cmpfd >= 0,
        };
        ts.off = req.off;
        ts.len = req.len;
        ss_err e;
        int r = s->ops->range(s, &w, &req, local_tsig, &ts, write_sink, st, &e);
        if (r < 0)
            rc = die_err("range", &e);
        else if (r == 1)
            rc = 3;
    }
    if (rc == 0 && fd >= 0 && ftruncate(fd, (off_t)size) < 0)
        rc = 1;
    worker_free(&w);
    free(ts.sigs);
    free(ts.buf);
    return rc;
}

typedef struct {
    ss_source *s;
    const char *path;
    uint64_t size;
    int fd;                 /* -1: data dropped (bench) */
    _Atomic uint64_t next;
    _Atomic int failed;     /* 1 error, 3 vanished */
} bench_state;

static int pwrite_sink(void *ctx, uint64_t off, const void *data, size_t len, ss_err *err)
{
    const bench_state *b = ctx;
    if (b->fd >= 0 && pwrite(b->fd, data, len, (off_t)off) != (ssize_t)len)
        return ss_seterr(err, SS_ETARGET, 0, "short write");
    return 0;
}

static void *bench_thread(void *arg)
{
    bench_state *b = arg;
    ss_worker w;
    if (worker_init(&w) < 0) {
        atomic_store(&b->failed, 1);
        return NULL;
    }
    for (;;) {
        uint64_t off = atomic_fetch_add(&b->next, chunk);
        if (off >= b->size)
            break;
        ss_range_req req = {
            .path = b->path, .file_size = b->size, .off = off,
            .len = b->size - off < chunk ? b->size - off : chunk, .block_size = BS,
            .last = off + chunk >= b->size,
        };
        ss_err e;
        int r = b->s->ops->range(b->s, &w, &req, NULL, NULL, pwrite_sink, b, &e);
        if (r != 0) {
            if (r < 0)
                die_err("range", &e);
            atomic_store(&b->failed, r < 0 ? 1 : 3);
            break;
        }
    }
    worker_free(&w);
    return NULL;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One pass over the file with nconn threads taking chunks in turn. */
static int parallel_pass(bench_state *b)
{
    atomic_store(&b->next, 0);
    pthread_t tid[64];
    unsigned n = nconn > 64 ? 64 : nconn;
    for (unsigned i = 0; i < n; i++)
        pthread_create(&tid[i], NULL, bench_thread, b);
    for (unsigned i = 0; i < n; i++)
        pthread_join(tid[i], NULL);
    return atomic_load(&b->failed);
}

static int cmd_read(ss_source *s, const char *path, const char *out)
{
    bench_state b = { .s = s, .path = path, .fd = -1 };
    int rc = find_entry(s, path, &b.size);
    if (rc)
        return rc;
    b.fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (b.fd < 0) {
        perror(out);
        return 1;
    }
    rc = parallel_pass(&b);
    if (rc == 0 && ftruncate(b.fd, (off_t)b.size) < 0)
        rc = 1;
    if (close(b.fd) < 0)
        rc = 1;
    if (rc == 0)
        fprintf(stderr, "read %" PRIu64 " bytes with %u thread(s), wire %" PRIu64 " bytes\n", b.size,
                nconn, s->ops->wire_bytes(s));
    return rc;
}

static int cmd_bench(ss_source *s, const char *path, int rounds)
{
    bench_state b = { .s = s, .path = path, .fd = -1 };
    int rc = find_entry(s, path, &b.size);
    if (rc)
        return rc;
    double mbs[64];
    if (rounds < 1 || rounds > 64)
        return usage();
    for (int r = 0; r < rounds; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if ((rc = parallel_pass(&b)) != 0)
            return rc;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        mbs[r] = (double)b.size / 1048576.0 / secs;
        printf("round %d: %.1f MB/s (%.3f s)\n", r + 1, mbs[r], secs);
    }
    qsort(mbs, (size_t)rounds, sizeof *mbs, dbl_cmp);
    printf("median: %.1f MB/s over %" PRIu64 " bytes, %u connection(s), wire %" PRIu64 " bytes\n",
           mbs[rounds / 2], b.size, nconn, s->ops->wire_bytes(s));
    return 0;
}

static int cmd_sync(ss_source *s, const char *target, const char *mode)
{
    ss_sync_opts o = {
        .mode = !strcmp(mode, "full") ? SS_MODE_FULL : SS_MODE_DIFF,
        .jobs = nconn,
        .block_size = BS,
        .chunk_size = chunk,
    };
    ss_counters c;
    memset(&c, 0, sizeof c);
    ss_err e;
    if (ss_sync(s, target, &o, &c, &e) < 0)
        return die_err("sync", &e);
    printf("files_total %" PRIu64 "\nfiles_copied %" PRIu64 "\nfiles_updated %" PRIu64
           "\nblocks_changed %" PRIu64 "\nbytes_transferred %" PRIu64 "\nwire_bytes %" PRIu64 "\n",
           atomic_load(&c.files_total), atomic_load(&c.files_copied), atomic_load(&c.files_updated),
           atomic_load(&c.blocks_changed), atomic_load(&c.bytes_transferred), s->ops->wire_bytes(s));
    return 0;
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "s:j:c:x:z:L")) != -1) {
        switch (opt) {
        case 's': sub = optarg; break;
        case 'j': nconn = (unsigned)atoi(optarg); break;
        case 'L': live = 0; break;
        case 'z': force_size = strtoull(optarg, NULL, 10); break;
        case 'c': chunk = (size_t)strtoull(optarg, NULL, 10) / BS * BS; break;
        case 'x':
            if (nexcl == sizeof excl / sizeof *excl)
                return usage();
            excl[nexcl++] = optarg;
            break;
        default: return usage();
        }
    }
    if (argc - optind < 2 || nconn < 1 || chunk < BS)
        return usage();
    const char *cmd = argv[optind], *conninfo = argv[optind + 1];
    char **args = argv + optind + 2;
    int nargs = argc - optind - 2;
    ss_walk_opts wo = { .filter = exclude_filter };
    ss_source *s;
    ss_err e;
    if (ss_source_libpq_open(&s, conninfo, sub, nexcl ? &wo : NULL, live, nconn, &e) < 0)
        return die_err("open", &e);
    int rc;
    if (!strcmp(cmd, "list") && nargs == 0) {
        rc = cmd_list(s);
    } else if (!strcmp(cmd, "read") && nargs == 2) {
        rc = cmd_read(s, args[0], args[1]);
    } else if (!strcmp(cmd, "readfile") && (nargs == 2 || nargs == 3)) {
        size_t max = nargs == 3 ? (size_t)strtoull(args[2], NULL, 10) : (size_t)16 << 20;
        void *buf;
        size_t len;
        rc = ss_source_libpq_read_file(s, args[0], max, &buf, &len, &e);
        if (rc < 0) {
            rc = die_err("read_file", &e);
        } else if (rc == 1) {
            fprintf(stderr, "libpq_source_dump: %s does not exist\n", args[0]);
            rc = 3;
        } else {
            FILE *f = fopen(args[1], "wb");
            rc = !f || fwrite(buf, 1, len, f) != len;
            if (f && fclose(f))
                rc = 1;
            free(buf);
        }
    } else if (!strcmp(cmd, "diff") && nargs == 2) {
        int cfd = open(args[1], O_RDONLY);
        sink_state st = { 0 };
        rc = cfd < 0 ? 1 : whole_file(s, args[0], -1, cfd, &st);
        if (cfd >= 0)
            close(cfd);
        if (rc == 0)
            printf("blocks %" PRIu64 " bytes %" PRIu64 "\n", st.blocks, st.sent);
    } else if (!strcmp(cmd, "sync") && nargs == 2 &&
               (!strcmp(args[1], "full") || !strcmp(args[1], "diff"))) {
        rc = cmd_sync(s, args[0], args[1]);
    } else if (!strcmp(cmd, "bench") && nargs == 2) {
        rc = cmd_bench(s, args[0], atoi(args[1]));
    } else {
        rc = usage();
    }
    s->ops->destroy(s);
    return rc;
}
