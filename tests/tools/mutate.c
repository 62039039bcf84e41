/*
 * mutate SEED DIR [OUTSIDE] — change a copy of a tree in every way the
 * raw-mode sync must undo. Deterministic for a given SEED and tree.
 *
 * Changes made (each logged on stdout as "<what>\t<escaped path>"):
 *   flip bytes in a few blocks of some files (same size; for some the old
 *   mtime is put back, so only hashing can find them), flip the last byte,
 *   truncate (to 0, to a block boundary, anywhere), extend (data or a sparse
 *   tail), delete files and a directory tree, add extra files, directories,
 *   an empty directory, symlinks and a stale ".segsync.<hex>.tmp", change
 *   modes of files and directories, change mtimes only, change owners (root),
 *   replace a file by a directory, a directory by a file, a file by a symlink
 *   and a symlink by a file, a symlink by a directory, retarget a symlink,
 *   put a fifo where a file was and an extra fifo.
 * With OUTSIDE (a directory outside DIR, created if missing): a regular file
 * and a directory of DIR are replaced by absolute symlinks into OUTSIDE,
 * pointing at files/directories with the same names and sizes but other
 * contents, and a regular file becomes a hard link to a file in OUTSIDE that
 * differs from it in its first byte. A sync that writes through a target
 * symlink or in place into a hard-linked file changes OUTSIDE; the tests
 * checksum OUTSIDE before and after.
 *
 * Works as an unprivileged user too (read-only directories and files are
 * made writable around each change, owner changes are skipped).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tt_common.h"

#include <dirent.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>

typedef struct {
    char *rel;
    mode_t mode;        /* st_mode (type + bits) */
    off_t size;
    int nchildren;      /* directories */
    int nregs;          /* regular files directly inside */
} ent;

static const char *root;
static const char *outside;
static tt_rng g;
static uint64_t g_seed, g_stream = 5000;
static ent *ents;
static size_t nents, cap;
static int is_root;
static unsigned nchanges;

static int cmp_ent(const void *a, const void *b)
{
    return strcmp(((const ent *)a)->rel, ((const ent *)b)->rel);
}

static char *full(const char *rel)
{
    return tt_join(root, rel);
}

static void scan(const char *rel)
{
    char *p = rel[0] ? full(rel) : tt_strdup(root);
    DIR *d = opendir(p);
    if (!d) {
        if (errno == EACCES)
            return free(p);
        tt_die("opendir %s", p);
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *crel = rel[0] ? tt_join(rel, de->d_name) : tt_strdup(de->d_name);
        char *cp = full(crel);
        struct stat st;
        if (lstat(cp, &st) < 0)
            tt_die("lstat %s", cp);
        free(cp);
        if (nents == cap) {
            cap = cap ? cap * 2 : 256;
            ents = realloc(ents, cap * sizeof *ents);
            if (!ents)
                tt_die("out of memory");
        }
        ents[nents++] = (ent){ crel, st.st_mode, st.st_size, 0, 0 };
        if (S_ISDIR(st.st_mode))
            scan(crel);
    }
    closedir(d);
    free(p);
}

static void rescan(void)
{
    for (size_t i = 0; i < nents; i++)
        free(ents[i].rel);
    nents = 0;
    scan("");
    qsort(ents, nents, sizeof *ents, cmp_ent);
    /* Children counts. */
    for (size_t i = 0; i < nents; i++)
        ents[i].nchildren = ents[i].nregs = 0;
    for (size_t i = 0; i < nents; i++) {
        const char *slash = strrchr(ents[i].rel, '/');
        if (!slash)
            continue;
        size_t plen = (size_t)(slash - ents[i].rel);
        for (size_t j = 0; j < nents; j++)
            if (strlen(ents[j].rel) == plen && !strncmp(ents[j].rel, ents[i].rel, plen)) {
                ents[j].nchildren++;
                ents[j].nregs += S_ISREG(ents[i].mode) ? 1 : 0;
                break;
            }
    }
}

static void logc(const char *what, const char *rel)
{
    printf("%s\t", what);
    tt_print_path(stdout, rel);
    putchar('\n');
    nchanges++;
}

typedef enum { K_REG, K_REG_NONEMPTY, K_REG_BIG, K_DIR, K_DIR_NONEMPTY, K_DIR_FILES, K_LNK, K_ANY } kind;

static char *protected[8];
static size_t nprotected;

static void protect(const char *rel)
{
    if (nprotected < sizeof protected / sizeof protected[0])
        protected[nprotected++] = tt_strdup(rel);
}

/* rel is a protected path or one of its ancestors. */
static int is_protected(const char *rel)
{
    size_t n = strlen(rel);
    for (size_t i = 0; i < nprotected; i++)
        if (!strncmp(protected[i], rel, n) && (protected[i][n] == 0 || protected[i][n] == '/'))
            return 1;
    return 0;
}

static int matches(const ent *e, kind k)
{
    if (is_protected(e->rel))
        return 0;
    switch (k) {
    case K_REG: return S_ISREG(e->mode);
    case K_REG_NONEMPTY: return S_ISREG(e->mode) && e->size > 0;
    case K_REG_BIG: return S_ISREG(e->mode) && e->size > 3 * 8192;
    case K_DIR: return S_ISDIR(e->mode);
    case K_DIR_NONEMPTY: return S_ISDIR(e->mode) && e->nchildren > 0;
    case K_DIR_FILES: return S_ISDIR(e->mode) && e->nregs > 1;
    case K_LNK: return S_ISLNK(e->mode);
    default: return 1;
    }
}

/* A random entry of kind k, or NULL. The returned string is owned by the
 * caller (the list is rescanned after each change). */
static char *pick(kind k, off_t max_size)
{
    size_t n = 0;
    for (size_t i = 0; i < nents; i++)
        if (matches(&ents[i], k) && (max_size <= 0 || ents[i].size <= max_size))
            n++;
    if (!n)
        return NULL;
    size_t want = (size_t)tt_below(&g, n);
    for (size_t i = 0; i < nents; i++)
        if (matches(&ents[i], k) && (max_size <= 0 || ents[i].size <= max_size) && want-- == 0)
            return tt_strdup(ents[i].rel);
    return NULL;
}

static ent *find(const char *rel)
{
    for (size_t i = 0; i < nents; i++)
        if (!strcmp(ents[i].rel, rel))
            return &ents[i];
    return NULL;
}

static char *parent_of(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    if (!slash)
        return tt_strdup(root);
    char *r = strndup(rel, (size_t)(slash - rel));
    char *p = full(r);
    free(r);
    return p;
}

/* Make the parent directory of rel writable (unprivileged runs); returns
 * its old mode to restore, or 0 when nothing was changed. */
static mode_t unlock_parent(const char *rel)
{
    if (is_root)
        return 0;
    char *p = parent_of(rel);
    struct stat st;
    mode_t old = 0;
    if (stat(p, &st) == 0 && (st.st_mode & 0700) != 0700) {
        old = st.st_mode & 07777;
        if (chmod(p, old | 0700) < 0)
            tt_die("chmod %s", p);
    }
    free(p);
    return old;
}

static void relock_parent(const char *rel, mode_t old)
{
    if (!old)
        return;
    char *p = parent_of(rel);
    if (chmod(p, old) < 0)
        tt_die("chmod %s", p);
    free(p);
}

static void rmtree(const char *p)
{
    struct stat st;
    if (lstat(p, &st) < 0)
        tt_die("lstat %s", p);
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(p) < 0)
            tt_die("unlink %s", p);
        return;
    }
    if (!is_root && (st.st_mode & 0700) != 0700 && chmod(p, 0700) < 0)
        tt_die("chmod %s", p);
    DIR *d = opendir(p);
    if (!d)
        tt_die("opendir %s", p);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *c = tt_join(p, de->d_name);
        rmtree(c);
        free(c);
    }
    closedir(d);
    if (rmdir(p) < 0)
        tt_die("rmdir %s", p);
}

static void write_new_file(const char *p, uint64_t size, mode_t mode)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        tt_die("create %s", p);
    tt_rng r = tt_rng_for(g_seed, g_stream++);
    tt_write_random(fd, &r, size, p);
    if (close(fd) < 0)
        tt_die("close %s", p);
}

/* Open a regular file for writing even when it is read-only to us. */
static int open_rw(const char *p, mode_t *restore)
{
    *restore = 0;
    int fd = open(p, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == EACCES && !is_root) {
        struct stat st;
        if (stat(p, &st) < 0)
            tt_die("stat %s", p);
        *restore = (st.st_mode & 07777) | 0x10000;
        if (chmod(p, (st.st_mode & 07777) | 0600) < 0)
            tt_die("chmod %s", p);
        fd = open(p, O_RDWR | O_CLOEXEC);
    }
    if (fd < 0)
        tt_die("open %s", p);
    return fd;
}

static void close_rw(int fd, const char *p, mode_t restore)
{
    if (restore && fchmod(fd, restore & 07777) < 0)
        tt_die("fchmod %s", p);
    if (close(fd) < 0)
        tt_die("close %s", p);
}

/* XOR a few bytes in `nblocks` random places (nonzero mask: really differs). */
static void flip_bytes(const char *rel, int keep_mtime, int last_byte)
{
    char *p = full(rel);
    struct stat st;
    if (lstat(p, &st) < 0)
        tt_die("lstat %s", p);
    mode_t restore;
    int fd = open_rw(p, &restore);
    unsigned n = last_byte ? 1 : (unsigned)tt_range(&g, 1, 5);
    for (unsigned i = 0; i < n; i++) {
        off_t off = last_byte ? st.st_size - 1 : (off_t)tt_below(&g, (uint64_t)st.st_size);
        unsigned char b;
        if (pread(fd, &b, 1, off) != 1)
            tt_die("pread %s", p);
        b ^= (unsigned char)tt_range(&g, 1, 255);
        tt_pwrite_all(fd, &b, 1, off, p);
    }
    if (keep_mtime) {
        struct timespec ts[2] = { st.st_atim, st.st_mtim };
        if (futimens(fd, ts) < 0)
            tt_die("futimens %s", p);
    }
    close_rw(fd, p, restore);
    logc(last_byte ? "flip-last" : keep_mtime ? "flip-same-mtime" : "flip", rel);
    free(p);
}

static void truncate_file(const char *rel)
{
    char *p = full(rel);
    ent *e = find(rel);
    off_t sz = e->size, ns;
    switch (tt_below(&g, 3)) {
    case 0: ns = 0; break;
    case 1: ns = (sz - 1) / 8192 * 8192; break;
    default: ns = (off_t)tt_below(&g, (uint64_t)sz); break;
    }
    mode_t restore;
    int fd = open_rw(p, &restore);
    if (ftruncate(fd, ns) < 0)
        tt_die("ftruncate %s", p);
    close_rw(fd, p, restore);
    logc("truncate", rel);
    free(p);
}

static void extend_file(const char *rel, int sparse)
{
    char *p = full(rel);
    mode_t restore;
    int fd = open_rw(p, &restore);
    struct stat st;
    if (fstat(fd, &st) < 0)
        tt_die("fstat %s", p);
    uint64_t add = tt_range(&g, 1, 100000);
    if (sparse) {
        if (ftruncate(fd, st.st_size + (off_t)add + 8192) < 0)
            tt_die("ftruncate %s", p);
    } else {
        if (lseek(fd, 0, SEEK_END) < 0)
            tt_die("lseek %s", p);
        tt_rng r = tt_rng_for(g_seed, g_stream++);
        tt_write_random(fd, &r, add, p);
    }
    close_rw(fd, p, restore);
    logc(sparse ? "extend-sparse" : "extend", rel);
    free(p);
}

static void delete_entry(const char *rel, const char *what)
{
    char *p = full(rel);
    mode_t old = unlock_parent(rel);
    rmtree(p);
    relock_parent(rel, old);
    logc(what, rel);
    free(p);
}

static void add_file_in(const char *dirrel, const char *name, uint64_t size)
{
    char *rel = dirrel ? tt_join(dirrel, name) : tt_strdup(name);
    char *p = full(rel);
    mode_t old = unlock_parent(rel);
    write_new_file(p, size, 0644);
    relock_parent(rel, old);
    logc("add-file", rel);
    free(p);
    free(rel);
}

static void chmod_entry(const char *rel, int dir)
{
    char *p = full(rel);
    struct stat st;
    if (lstat(p, &st) < 0)
        tt_die("lstat %s", p);
    static const mode_t fmodes[] = { 0600, 0644, 0755, 0444, 0640, 0700, 0604 };
    static const mode_t dmodes[] = { 0700, 0755, 0750, 0777, 0711 };
    mode_t m;
    for (unsigned i = 0;; i++) {
        m = dir ? dmodes[tt_below(&g, 5)] : fmodes[tt_below(&g, 7)];
        if (m != (st.st_mode & 07777) || i > 20)
            break;
    }
    if (m == (st.st_mode & 07777))
        m ^= 0001;
    if (chmod(p, m) < 0)
        tt_die("chmod %s", p);
    logc(dir ? "chmod-dir" : "chmod", rel);
    free(p);
}

static void touch_entry(const char *rel)
{
    char *p = full(rel);
    struct timespec ts[2] = { { 1234567890, 123456789 }, { 1111111111, (long)tt_below(&g, 999999999) + 1 } };
    if (utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) < 0)
        tt_die("utimensat %s", p);
    logc("mtime", rel);
    free(p);
}

static void chown_entry(const char *rel)
{
    char *p = full(rel);
    if (lchown(p, 999, 998) < 0)
        tt_die("lchown %s", p);
    logc("chown", rel);
    free(p);
}

static void file_to_dir(const char *rel)
{
    char *p = full(rel);
    mode_t old = unlock_parent(rel);
    rmtree(p);
    if (mkdir(p, 0755) < 0)
        tt_die("mkdir %s", p);
    char *c = tt_join(p, "was-a-file");
    write_new_file(c, 20000, 0644);
    relock_parent(rel, old);
    logc("file->dir", rel);
    free(c);
    free(p);
}

static void to_file(const char *rel, const char *what)
{
    char *p = full(rel);
    mode_t old = unlock_parent(rel);
    rmtree(p);
    write_new_file(p, tt_range(&g, 0, 50000), 0644);
    relock_parent(rel, old);
    logc(what, rel);
    free(p);
}

static void to_symlink(const char *rel, const char *target, const char *what)
{
    char *p = full(rel);
    mode_t old = unlock_parent(rel);
    rmtree(p);
    if (symlink(target, p) < 0)
        tt_die("symlink %s", p);
    relock_parent(rel, old);
    logc(what, rel);
    free(p);
}

static void to_fifo(const char *rel, const char *what)
{
    char *p = full(rel);
    mode_t old = unlock_parent(rel);
    if (access(p, F_OK) == 0 || errno != ENOENT)
        rmtree(p);
    if (mkfifo(p, 0644) < 0)
        tt_die("mkfifo %s", p);
    relock_parent(rel, old);
    logc(what, rel);
    free(p);
}

/* Copy-shaped decoys in OUTSIDE: same name and size, other bytes. */
static void outside_file_link(const char *rel)
{
    char name[64];
    snprintf(name, sizeof name, "victim-file-%llu-%llu", (unsigned long long)g_seed,
             (unsigned long long)g_stream);
    char *victim = tt_join(outside, name);
    ent *e = find(rel);
    uint64_t size = e && e->size > 0 ? (uint64_t)e->size : 10000;
    if (size > (1 << 20))
        size = 1 << 20;
    write_new_file(victim, size, 0644);
    to_symlink(rel, victim, "file->outside-symlink");
    free(victim);
}

static void outside_dir_link(const char *rel)
{
    char name[64];
    snprintf(name, sizeof name, "victim-dir-%llu-%llu", (unsigned long long)g_seed,
             (unsigned long long)g_stream++);
    char *vdir = tt_join(outside, name);
    if (mkdir(vdir, 0755) < 0)
        tt_die("mkdir %s", vdir);
    /* Same names as the directory's direct children. */
    size_t plen = strlen(rel);
    for (size_t i = 0; i < nents; i++) {
        const char *c = ents[i].rel;
        if (strncmp(c, rel, plen) || c[plen] != '/' || strchr(c + plen + 1, '/'))
            continue;
        char *vp = tt_join(vdir, c + plen + 1);
        if (S_ISDIR(ents[i].mode)) {
            if (mkdir(vp, 0755) < 0)
                tt_die("mkdir %s", vp);
        } else {
            uint64_t size = S_ISREG(ents[i].mode) ? (uint64_t)ents[i].size : 100;
            if (size > (1 << 20))
                size = 1 << 20;
            write_new_file(vp, size, 0644);
        }
        free(vp);
    }
    to_symlink(rel, vdir, "dir->outside-symlink");
    free(vdir);
}

/* A regular file of DIR becomes a hard link to a file in OUTSIDE holding
 * the same bytes but one: an in-place block update would write OUTSIDE. */
static void outside_hardlink(const char *rel)
{
    char name[64];
    snprintf(name, sizeof name, "victim-hardlink-%llu-%llu", (unsigned long long)g_seed,
             (unsigned long long)g_stream++);
    char *victim = tt_join(outside, name);
    char *p = full(rel);
    int in = open(p, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        tt_die("open %s", p);
    int out = open(victim, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0)
        tt_die("create %s", victim);
    static unsigned char buf[1 << 16];
    size_t n;
    uint64_t total = 0;
    while ((n = tt_read_full(in, buf, sizeof buf, p)) > 0) {
        if (total == 0)
            buf[0] ^= 0x5a;
        tt_write_all(out, buf, n, victim);
        total += n;
        if (n < sizeof buf)
            break;
    }
    close(in);
    if (close(out) < 0)
        tt_die("close %s", victim);
    mode_t old = unlock_parent(rel);
    if (unlink(p) < 0)
        tt_die("unlink %s", p);
    if (link(victim, p) < 0)
        tt_die("link %s", p);
    relock_parent(rel, old);
    logc("file->outside-hardlink", rel);
    free(victim);
    free(p);
}

#define TIMES(n) for (unsigned _i = 0; _i < (n); _i++)
#define WITH(var, k, max) for (char *var = pick(k, max); var; free(var), var = NULL, rescan())

int main(int argc, char **argv)
{
    tt_prog = "mutate";
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: mutate SEED DIR [OUTSIDE]\n");
        return 2;
    }
    char *end;
    g_seed = strtoull(argv[1], &end, 0);
    if (*end)
        tt_die("bad seed %s", argv[1]);
    root = argv[2];
    outside = argc == 4 ? argv[3] : NULL;
    is_root = geteuid() == 0;
    g = tt_rng_for(g_seed, 77);
    umask(022);
    if (outside && mkdir(outside, 0755) < 0 && errno != EEXIST)
        tt_die("mkdir %s", outside);
    rescan();
    if (nents < 10)
        tt_die("%s: too few entries to mutate (%zu)", root, nents);

    /* Outside symlinks first, where the source has a file and a directory;
     * later changes leave them (and their parents) alone. */
    if (outside) {
        WITH(r, K_REG_NONEMPTY, 0) {
            outside_file_link(r);
            protect(r);
        }
        WITH(r, K_DIR_FILES, 0) {
            outside_dir_link(r);
            protect(r);
        }
        WITH(r, K_REG_NONEMPTY, 4 << 20) {
            outside_hardlink(r);
            protect(r);
        }
    }
    /* Contents. */
    TIMES(4) WITH(r, K_REG_NONEMPTY, 0) flip_bytes(r, 0, 0);
    TIMES(3) WITH(r, K_REG_BIG, 0) flip_bytes(r, 1, 0);
    TIMES(2) WITH(r, K_REG_NONEMPTY, 0) flip_bytes(r, 1, 1);
    TIMES(3) WITH(r, K_REG_NONEMPTY, 0) truncate_file(r);
    TIMES(2) WITH(r, K_REG, 0) extend_file(r, 0);
    WITH(r, K_REG, 0) extend_file(r, 1);
    /* Metadata. */
    TIMES(3) WITH(r, K_REG, 0) chmod_entry(r, 0);
    WITH(r, K_DIR, 0) chmod_entry(r, 1);
    TIMES(2) WITH(r, K_REG, 0) touch_entry(r);
    if (is_root)
        TIMES(2) WITH(r, K_ANY, 0) chown_entry(r);
    /* Type changes. */
    WITH(r, K_REG, 0) file_to_dir(r);
    WITH(r, K_DIR_NONEMPTY, 0) to_file(r, "dir->file");
    WITH(r, K_REG, 0) to_symlink(r, "../elsewhere", "file->symlink");
    WITH(r, K_LNK, 0) to_file(r, "symlink->file");
    WITH(r, K_LNK, 0) to_symlink(r, "retargeted/somewhere", "symlink-retarget");
    WITH(r, K_LNK, 0) {
        char *p = full(r);
        mode_t old = unlock_parent(r);
        rmtree(p);
        if (mkdir(p, 0755) < 0)
            tt_die("mkdir %s", p);
        relock_parent(r, old);
        logc("symlink->dir", r);
        free(p);
    }
    WITH(r, K_REG, 1 << 20) to_fifo(r, "file->fifo");
    /* Deletions. */
    TIMES(3) WITH(r, K_REG, 0) delete_entry(r, "delete-file");
    WITH(r, K_LNK, 0) delete_entry(r, "delete-symlink");
    WITH(r, K_DIR_NONEMPTY, 0) delete_entry(r, "delete-dir");
    /* Extras. */
    TIMES(3) WITH(r, K_DIR, 0) {
        char name[32];
        snprintf(name, sizeof name, "extra-%u", (unsigned)tt_below(&g, 1000000));
        add_file_in(r, name, tt_range(&g, 0, 300000));
    }
    add_file_in(NULL, "extra top file", 12345);
    WITH(r, K_DIR, 0) {
        char *d = tt_join(r, "extra-dir");
        char *p = full(d);
        mode_t old = unlock_parent(d);
        if (mkdir(p, 0755) < 0)
            tt_die("mkdir %s", p);
        char *sub = tt_join(p, "sub");
        if (mkdir(sub, 0700) < 0)
            tt_die("mkdir %s", sub);
        char *f = tt_join(sub, "f");
        write_new_file(f, 9000, 0600);
        relock_parent(d, old);
        logc("add-dir", d);
        free(f), free(sub), free(p), free(d);
    }
    WITH(r, K_DIR, 0) {
        char *d = tt_join(r, "extra-empty-dir");
        char *p = full(d);
        mode_t old = unlock_parent(d);
        if (mkdir(p, 0755) < 0)
            tt_die("mkdir %s", p);
        relock_parent(d, old);
        logc("add-empty-dir", d);
        free(p), free(d);
    }
    TIMES(2) WITH(r, K_DIR, 0) {
        char *l = tt_join(r, "extra-link");
        char *p = full(l);
        struct stat st;
        if (lstat(p, &st) != 0) {
            mode_t old = unlock_parent(l);
            if (symlink("../../extra/target", p) < 0)
                tt_die("symlink %s", p);
            relock_parent(l, old);
            logc("add-symlink", l);
        }
        free(p);
        free(l);
    }
    WITH(r, K_DIR, 0) {
        char *l = tt_join(r, ".segsync.0123456789abcdef.tmp");
        char *p = full(l);
        mode_t old = unlock_parent(l);
        write_new_file(p, 5000, 0600);
        relock_parent(l, old);
        logc("add-stale-tmp", l);
        free(p), free(l);
    }
    WITH(r, K_DIR, 0) {
        char *l = tt_join(r, "extra-fifo");
        to_fifo(l, "add-fifo");
        free(l);
    }
    fprintf(stderr, "mutate: seed %llu: %u changes in %s\n", (unsigned long long)g_seed,
            nchanges, root);
    for (size_t i = 0; i < nents; i++)
        free(ents[i].rel);
    free(ents);
    return 0;
}
