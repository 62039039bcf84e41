/*
 * gendata — benchmark data for segsync (bench/bench_raw.sh).
 *
 *   gendata gen    [--seed N] [--size SIZE] [--segment-size SIZE] DIR
 *   gendata mutate [--seed N] [--percent P] [--list FILE] DIR
 *   gendata stamp  DIR
 *   gendata read   [--jobs N] DIR...
 *
 * gen: write a tree shaped like a PostgreSQL / Greenplum segment's data
 * directory into DIR (which must not exist or be empty): about 3/4 of SIZE
 * (default 4G) in relation segment files of --segment-size (default 1G, or
 * SIZE/4 when SIZE < 4G) named like base/16384/16385, 16385.1, 16385.2, ...,
 * and the rest in thousands of small files (8 KiB .. 1 MiB, log-uniform by octave) in
 * base/<db>/, global/, pg_xact/, pg_multixact/, pg_subtrans/ ... plus a few
 * tiny text files (PG_VERSION). Everything is a deterministic function of
 * --seed and --size.
 *
 * Content: every 8 KiB page is distinct and about half compressible: a
 * 32-byte header with the page's unique 64-bit id, then ~half pseudo-random
 * bytes, then ~half low-entropy "tuples" (a row counter, a small random
 * field and one of eight short text values). No page is ever repeated, so neither rsync's rolling
 * checksum nor zstd get an unrealistically easy job.
 *
 * mutate: change PERCENT (default 1) of the 8 KiB blocks of the regular
 * files under DIR, chosen at random (uniform over all blocks of all files,
 * seeded), in place, each with new distinct content. Sizes stay; the mtime
 * of every changed file becomes "now", as in a real diverged mirror, so
 * `rsync -a` (size + mtime quick check) sees those files as changed.
 * --list FILE writes the relative paths of the changed files, one a line
 * (for an independent cmp check after a sync).
 *
 * stamp: reset the mtime of every regular file under DIR to the value gen
 * gives it (a function of its relative path). bench_raw.sh uses it, after
 * a contender made the target identical to the source, to put the target
 * back into the "copy of source" state before mutating it again.
 *
 * read: read every regular file under the DIRs once (4 MiB reads, N
 * threads, default 2, each taking whole files): a read floor that, unlike
 * `cat`, is not limited by small reads and a single stream.
 *
 * SIZE accepts K, M, G, T suffixes (powers of 1024). Writes are 4 MiB.
 * Nothing here uses the engine: this tool is an independent oracle.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PAGE        8192u
#define HDR         32u
#define WBUF        (4u << 20)          /* bytes per write() */
#define BASE_MTIME  1704067200LL        /* 2024-01-01T00:00:00Z */

static const char *prog = "gendata";

__attribute__((noreturn, format(printf, 1, 2)))
static void die(const char *fmt, ...)
{
    int e = errno;
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (e)
        fprintf(stderr, ": %s", strerror(e));
    fputc('\n', stderr);
    exit(2);
}

/* ---------------------------------------------------------------- rng */

static inline uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

typedef struct { uint64_t s; } rng_t;

static inline uint64_t rnext(rng_t *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    uint64_t z = r->s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rbelow(rng_t *r, uint64_t n)
{
    return n ? rnext(r) % n : 0;
}


/* -------------------------------------------------------------- pages */

/*
 * Fill one page (len <= PAGE bytes; shorter only for a file's partial
 * tail) from its 64-bit id. Layout: "SEGPAGE1", id, seed, check word;
 * random bytes up to the middle; low-entropy tuples after it.
 */
static void fill_page(unsigned char *p, size_t len, uint64_t id, uint64_t seed)
{
    unsigned char page[PAGE];
    unsigned char *b = len == PAGE ? p : page;
    uint64_t w[4] = { 0, id, seed, mix64(id ^ seed) };
    memcpy(w, "SEGPAGE1", 8);
    memcpy(b, w, HDR);

    rng_t r = { mix64(id * 0x2545f4914f6cdd1dULL ^ seed) };
    size_t half = PAGE / 2;
    for (size_t o = HDR; o < half; o += 8) {
        uint64_t v = rnext(&r);
        memcpy(b + o, &v, 8);
    }
    /* 32-byte tuples: row counter, a 16-bit random field, and one of
     * eight 26-byte text values: zstd / gzip shrink this half ~10x */
    static const char vals[8][27] = {
        "status=active;region=eu-w1", "status=closed;region=us-e2",
        "status=active;region=ap-s1", "status=locked;region=eu-c1",
        "status=active;region=us-w2", "status=closed;region=ap-n1",
        "status=queued;region=sa-e1", "status=active;region=af-s1",
    };
    uint32_t row = (uint32_t)(id * 128);
    for (size_t o = half; o < PAGE; o += 32) {
        uint64_t v = rnext(&r);
        uint32_t c = row++;
        uint16_t f = (uint16_t)(v & 0x0f0f);
        memcpy(b + o, &c, 4);
        memcpy(b + o + 4, &f, 2);
        memcpy(b + o + 6, vals[(v >> 16) & 7], 26);
    }
    if (b != p)
        memcpy(p, b, len);
}

/* ------------------------------------------------------------ helpers */

static uint64_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        die("bad size '%s'", s);
    uint64_t m = 1;
    switch (*end) {
    case 'k': case 'K': m = 1ULL << 10; end++; break;
    case 'm': case 'M': m = 1ULL << 20; end++; break;
    case 'g': case 'G': m = 1ULL << 30; end++; break;
    case 't': case 'T': m = 1ULL << 40; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B')
        end++;
    if (*end == 'B')
        end++;
    if (*end)
        die("bad size '%s'", s);
    return (uint64_t)(v * (double)m);
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s)
        die("out of memory");
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* The mtime gen gives a file, from its path relative to the tree root. */
static struct timespec stamp_of(const char *rel)
{
    uint64_t h = mix64(fnv1a(rel));
    struct timespec ts;
    ts.tv_sec = (time_t)(BASE_MTIME + (int64_t)(h % (180u * 86400u)));
    ts.tv_nsec = (long)((h >> 32) % 1000000000u);
    return ts;
}

static void set_stamp(const char *root, const char *rel)
{
    struct timespec ts[2];
    ts[0] = ts[1] = stamp_of(rel);
    char *p = join(root, rel);
    if (utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) < 0)
        die("utimensat %s", p);
    free(p);
}

static void mkdir_p(const char *root, const char *rel)
{
    char *p = join(root, rel);
    for (char *s = p + strlen(root) + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0700) < 0 && errno != EEXIST)
                die("mkdir %s", p);
            *s = c;
            if (!c)
                break;
        }
    }
    free(p);
}

static void write_all(int fd, const unsigned char *b, size_t n, const char *path)
{
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write %s", path);
        }
        b += w;
        n -= (size_t)w;
    }
}

/* ---------------------------------------------------------------- gen */

static const char *g_root;
static uint64_t g_seed;
static uint64_t g_next_page = 1;       /* unique page ids, in write order */
static unsigned char *g_buf;
static uint64_t g_bytes, g_files;

static void gen_file(const char *rel, uint64_t size)
{
    char *p = join(g_root, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        die("create %s", p);
    uint64_t left = size;
    while (left) {
        size_t n = left < WBUF ? (size_t)left : WBUF;
        for (size_t o = 0; o < n; o += PAGE)
            fill_page(g_buf + o, n - o < PAGE ? n - o : PAGE,
                      g_next_page++, g_seed);
        write_all(fd, g_buf, n, p);
        left -= n;
    }
    if (close(fd) < 0)
        die("close %s", p);
    free(p);
    set_stamp(g_root, rel);
    g_bytes += size;
    g_files++;
}

static void gen_text(const char *rel, const char *text)
{
    char *p = join(g_root, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        die("create %s", p);
    write_all(fd, (const unsigned char *)text, strlen(text), p);
    close(fd);
    free(p);
    set_stamp(g_root, rel);
    g_bytes += strlen(text);
    g_files++;
}

static void usage(void)
{
    fprintf(stderr,
        "usage: gendata gen    [--seed N] [--size SIZE] [--segment-size SIZE] DIR\n"
        "       gendata mutate [--seed N] [--percent P] [--list FILE] DIR\n"
        "       gendata stamp  DIR\n"
        "       gendata read   [--jobs N] DIR...\n");
    exit(2);
}

static int cmd_gen(uint64_t seed, uint64_t total, uint64_t segsize, const char *dir)
{
    g_root = dir;
    g_seed = seed;
    total -= total % PAGE;
    if (!segsize) {
        segsize = total >= (4ULL << 30) ? (1ULL << 30) : total / 4;
        segsize -= segsize % PAGE;
    }
    if (segsize < PAGE)
        segsize = PAGE;
    segsize -= segsize % PAGE;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        die("mkdir %s", dir);
    DIR *d = opendir(dir);
    if (!d)
        die("opendir %s", dir);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            die("%s is not empty", dir);
    closedir(d);

    if (posix_memalign((void **)&g_buf, 4096, WBUF))
        die("out of memory");

    rng_t r = { mix64(seed ^ 0x5e65e65e65ULL) };
    static const char *dbs[] = { "1", "13000", "16384", "16390" };
    static const char *sysdirs[] = {
        "global", "pg_xact", "pg_multixact/offsets", "pg_multixact/members",
        "pg_subtrans", "pg_commit_ts", "pg_logical/snapshots", "pg_stat",
    };
    for (size_t i = 0; i < sizeof dbs / sizeof *dbs; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "base/%s", dbs[i]);
        mkdir_p(dir, rel);
    }
    for (size_t i = 0; i < sizeof sysdirs / sizeof *sysdirs; i++)
        mkdir_p(dir, sysdirs[i]);
    mkdir_p(dir, "pg_wal/archive_status");
    mkdir_p(dir, "pg_tblspc");

    gen_text("PG_VERSION", "15\n");
    for (size_t i = 0; i < sizeof dbs / sizeof *dbs; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "base/%s/PG_VERSION", dbs[i]);
        gen_text(rel, "15\n");
    }

    /* Big relations: 1..3 full segments each, in the two user databases. */
    uint64_t nbig = (uint64_t)((double)total * 0.75 / (double)segsize);
    if (nbig * segsize > total)
        nbig = total / segsize;
    unsigned oid = 16385;
    char rel[128];
    for (uint64_t done = 0; done < nbig; ) {
        const char *db = dbs[2 + (oid & 1)];
        uint64_t nseg = 1 + rbelow(&r, 3);
        if (nseg > nbig - done)
            nseg = nbig - done;
        for (uint64_t s = 0; s < nseg; s++) {
            if (s == 0)
                snprintf(rel, sizeof rel, "base/%s/%u", db, oid);
            else
                snprintf(rel, sizeof rel, "base/%s/%u.%" PRIu64, db, oid, s);
            gen_file(rel, segsize);
        }
        done += nseg;
        oid++;
    }
    uint64_t big_bytes = nbig * segsize;
    uint64_t big_files = nbig;

    /* Small files until the budget is spent. */
    uint64_t budget = total > g_bytes ? total - g_bytes : 0;
    unsigned xact = 0, mxo = 0, mxm = 0, sub = 0, cts = 0, glob = 1213;
    while (budget >= PAGE) {
        /* 1..128 pages (8 KiB .. 1 MiB), log-uniform by octave */
        uint64_t e = rbelow(&r, 8);                 /* no libm: octaves */
        uint64_t pages = (1ULL << e) + rbelow(&r, 1ULL << e);
        if (pages > 128) pages = 128;
        uint64_t sz = pages * PAGE;
        if (sz > budget)
            sz = budget - budget % PAGE;
        uint64_t k = rbelow(&r, 100);
        if (k < 3) {
            snprintf(rel, sizeof rel, "pg_xact/%04X", xact++);
            sz = 32 * PAGE < budget ? 32 * PAGE : sz;
        } else if (k < 4) {
            snprintf(rel, sizeof rel, "pg_multixact/offsets/%04X", mxo++);
        } else if (k < 5) {
            snprintf(rel, sizeof rel, "pg_multixact/members/%04X", mxm++);
        } else if (k < 6) {
            snprintf(rel, sizeof rel, "pg_subtrans/%04X", sub++);
        } else if (k < 7) {
            snprintf(rel, sizeof rel, "pg_commit_ts/%04X", cts++);
        } else if (k < 10) {
            snprintf(rel, sizeof rel, "global/%u", glob++);
        } else {
            const char *db = dbs[rbelow(&r, 4)];
            uint64_t fork = rbelow(&r, 10);
            unsigned o = oid++;
            snprintf(rel, sizeof rel, "base/%s/%u", db, o);
            gen_file(rel, sz);
            budget -= sz;
            /* free space map (3 pages) and visibility map (1 page) forks */
            if (fork < 4 && budget >= 4 * PAGE) {
                snprintf(rel, sizeof rel, "base/%s/%u_fsm", db, o);
                gen_file(rel, 3 * PAGE);
                snprintf(rel, sizeof rel, "base/%s/%u_vm", db, o);
                gen_file(rel, PAGE);
                budget -= 4 * PAGE;
            }
            continue;
        }
        gen_file(rel, sz);
        budget -= sz;
    }
    printf("gendata: seed %" PRIu64 ": %" PRIu64 " files (%" PRIu64 " bytes;"
           " %" PRIu64 " segment files of %" PRIu64 " bytes = %" PRIu64
           " bytes, %" PRIu64 " small files) in %s\n",
           seed, g_files, g_bytes, big_files, segsize, big_bytes,
           g_files - big_files, dir);
    free(g_buf);
    return 0;
}

/* ------------------------------------------------------- tree listing */

typedef struct { char *rel; uint64_t size; } fent;
static fent *g_ents;
static size_t g_nents, g_cap;

static void walk(const char *root, const char *rel)
{
    char *p = rel[0] ? join(root, rel) : strdup(root);
    DIR *d = opendir(p);
    if (!d)
        die("opendir %s", p);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *crel = rel[0] ? join(rel, de->d_name) : strdup(de->d_name);
        char *cp = join(root, crel);
        struct stat st;
        if (lstat(cp, &st) < 0)
            die("lstat %s", cp);
        free(cp);
        if (S_ISDIR(st.st_mode)) {
            walk(root, crel);
            free(crel);
        } else if (S_ISREG(st.st_mode)) {
            if (g_nents == g_cap) {
                g_cap = g_cap ? g_cap * 2 : 1024;
                g_ents = realloc(g_ents, g_cap * sizeof *g_ents);
                if (!g_ents)
                    die("out of memory");
            }
            g_ents[g_nents].rel = crel;
            g_ents[g_nents].size = (uint64_t)st.st_size;
            g_nents++;
        } else {
            free(crel);
        }
    }
    closedir(d);
    free(p);
}

static int cmp_ent(const void *a, const void *b)
{
    return strcmp(((const fent *)a)->rel, ((const fent *)b)->rel);
}

static void list_tree(const char *root)
{
    walk(root, "");
    qsort(g_ents, g_nents, sizeof *g_ents, cmp_ent);
}

/* ------------------------------------------------------------- mutate */

static int cmd_mutate(uint64_t seed, double pct, const char *dir,
                      const char *listpath)
{
    FILE *lf = NULL;
    if (listpath && !(lf = fopen(listpath, "w")))
        die("create %s", listpath);
    list_tree(dir);
    uint64_t nblocks = 0;
    for (size_t i = 0; i < g_nents; i++)
        nblocks += (g_ents[i].size + PAGE - 1) / PAGE;
    uint64_t k = (uint64_t)((double)nblocks * pct / 100.0 + 0.5);
    if (k > nblocks)
        k = nblocks;

    /* k distinct blocks, uniform over all blocks of all files */
    uint8_t *bits = calloc(nblocks / 8 + 1, 1);
    if (!bits)
        die("out of memory");
    rng_t r = { mix64(seed ^ 0x6d7574617465ULL) };
    if (k * 2 > nblocks) {              /* dense: pick all, then drop */
        memset(bits, 0xff, nblocks / 8 + 1);
        for (uint64_t have = nblocks; have > k; ) {
            uint64_t b = rbelow(&r, nblocks);
            if (bits[b >> 3] & (1u << (b & 7))) {
                bits[b >> 3] &= (uint8_t)~(1u << (b & 7));
                have--;
            }
        }
    } else {
        for (uint64_t have = 0; have < k; ) {
            uint64_t b = rbelow(&r, nblocks);
            if (!(bits[b >> 3] & (1u << (b & 7)))) {
                bits[b >> 3] |= (uint8_t)(1u << (b & 7));
                have++;
            }
        }
    }

    unsigned char page[PAGE];
    uint64_t gb = 0, changed = 0, changed_bytes = 0, files = 0;
    for (size_t i = 0; i < g_nents; i++) {
        uint64_t nb = (g_ents[i].size + PAGE - 1) / PAGE;
        int fd = -1;
        char *p = NULL;
        for (uint64_t b = 0; b < nb; b++, gb++) {
            if (!(bits[gb >> 3] & (1u << (gb & 7))))
                continue;
            if (fd < 0) {
                p = join(dir, g_ents[i].rel);
                fd = open(p, O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                    die("open %s", p);
                files++;
                if (lf)
                    fprintf(lf, "%s\n", g_ents[i].rel);
            }
            uint64_t off = b * PAGE;
            size_t len = g_ents[i].size - off < PAGE
                       ? (size_t)(g_ents[i].size - off) : PAGE;
            /* ids with the top bit set never occur in gen's output */
            uint64_t id = (1ULL << 63) | (mix64(seed * 0x9e37ULL ^ gb) >> 1);
            fill_page(page, len, id, seed);
            if (pwrite(fd, page, len, (off_t)off) != (ssize_t)len)
                die("pwrite %s", p);
            changed++;
            changed_bytes += len;
        }
        if (fd >= 0) {
            /* writes set mtime to now; make it explicit for coarse clocks */
            if (futimens(fd, NULL) < 0)
                die("futimens %s", p);
            close(fd);
            free(p);
        }
    }
    printf("gendata: mutate seed %" PRIu64 ": changed %" PRIu64 " of %" PRIu64
           " blocks (%" PRIu64 " bytes) in %" PRIu64 " of %zu files under %s\n",
           seed, changed, nblocks, changed_bytes, files, g_nents, dir);
    free(bits);
    if (lf && fclose(lf) != 0)
        die("write %s", listpath);
    return 0;
}

static int cmd_stamp(const char *dir)
{
    list_tree(dir);
    for (size_t i = 0; i < g_nents; i++)
        set_stamp(dir, g_ents[i].rel);
    printf("gendata: stamped %zu files under %s\n", g_nents, dir);
    return 0;
}

/* --------------------------------------------------------------- read */

/* Read every regular file under the given roots once, with large reads and
 * N threads taking whole files in turn: the "read both trees" floor without
 * cat's small reads or single stream. */
typedef struct { char **paths; size_t n; atomic_size_t next; atomic_uint_fast64_t bytes; } readjob;

static void *read_worker(void *arg)
{
    readjob *j = arg;
    unsigned char *buf;
    if (posix_memalign((void **)&buf, 4096, WBUF))
        die("out of memory");
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n)
            break;
        int fd = open(j->paths[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die("open %s", j->paths[i]);
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        ssize_t r;
        while ((r = read(fd, buf, WBUF)) > 0)
            atomic_fetch_add(&j->bytes, (uint64_t)r);
        if (r < 0)
            die("read %s", j->paths[i]);
        close(fd);
    }
    free(buf);
    return NULL;
}

static int cmd_read(int jobs, char **roots, int nroots)
{
    readjob j = { 0 };
    size_t cap = 0;
    for (int r = 0; r < nroots; r++) {
        g_nents = 0;
        list_tree(roots[r]);
        for (size_t i = 0; i < g_nents; i++) {
            if (j.n == cap) {
                cap = cap ? cap * 2 : 1024;
                j.paths = realloc(j.paths, cap * sizeof *j.paths);
                if (!j.paths)
                    die("out of memory");
            }
            j.paths[j.n++] = join(roots[r], g_ents[i].rel);
            free(g_ents[i].rel);
        }
    }
    if (jobs < 1)
        jobs = 1;
    pthread_t *t = calloc((size_t)jobs, sizeof *t);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < jobs; i++)
        if (pthread_create(&t[i], NULL, read_worker, &j))
            die("pthread_create");
    for (int i = 0; i < jobs; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double sec = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    uint64_t bytes = atomic_load(&j.bytes);
    printf("gendata: read %zu files, %" PRIu64 " bytes in %.3f s (%.0f MiB/s) with %d threads\n",
           j.n, bytes, sec, (double)bytes / 1048576.0 / (sec > 0 ? sec : 1), jobs);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *cmd = argv[1];
    uint64_t seed = 1, size = 4ULL << 30, segsize = 0;
    double pct = 1.0;
    const char *dir = NULL, *list = NULL;
    int jobs = 2;
    if (!strcmp(cmd, "read")) {
        int i = 2;
        if (i + 1 < argc && !strcmp(argv[i], "--jobs")) {
            jobs = atoi(argv[i + 1]);
            i += 2;
        } else if (i < argc && !strncmp(argv[i], "--jobs=", 7)) {
            jobs = atoi(argv[i] + 7);
            i++;
        }
        if (i >= argc)
            usage();
        return cmd_read(jobs, argv + i, argc - i);
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
#define OPT(name) (!strncmp(a, name, strlen(name)) && \
        (a[strlen(name)] == '=' ? (v = a + strlen(name) + 1) : \
         (!a[strlen(name)] && i + 1 < argc ? (v = argv[++i]) : NULL)))
        if (OPT("--seed"))
            seed = strtoull(v, NULL, 0);
        else if (OPT("--size"))
            size = parse_size(v);
        else if (OPT("--segment-size"))
            segsize = parse_size(v);
        else if (OPT("--percent"))
            pct = strtod(v, NULL);
        else if (OPT("--list"))
            list = v;
        else if (a[0] == '-')
            usage();
        else if (!dir)
            dir = a;
        else
            usage();
#undef OPT
    }
    if (!dir)
        usage();
    if (!strcmp(cmd, "gen"))
        return cmd_gen(seed, size, segsize, dir);
    if (!strcmp(cmd, "mutate"))
        return cmd_mutate(seed, pct, dir, list);
    if (!strcmp(cmd, "stamp"))
        return cmd_stamp(dir);
    usage();
}
