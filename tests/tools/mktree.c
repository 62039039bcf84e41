/*
 * mktree SEED DIR [SCALE] — build a deterministic random tree for the raw
 * mode tests.
 *
 * The same SEED and SCALE always give the same names, sizes, contents,
 * modes, owners (as root) and mtimes. The tree holds: nested and empty
 * directories; files from 0 bytes to ~20 MiB * SCALE, block aligned and not
 * (8191/8192/8193, 32 KiB multiples, odd sizes); sparse files; symlinks
 * (relative, absolute, dangling, to a directory, a loop, long and odd
 * targets); odd names (spaces, newline, tab, UTF-8 and invalid bytes,
 * leading dashes, glob characters, 220- and 255-byte names); modes 0600,
 * 0755, 0444, 04755, 0700 and 0555 and 01777 directories; as root a few
 * entries owned by 1234:5678 / 4321:8765 (a symlink too); and mtimes with
 * nanoseconds on every regular file. Every file's content comes from its
 * own random stream so no two blocks repeat.
 *
 * SCALE (default 1, a decimal like 0.5 or 4 is fine) multiplies the number
 * of random files and the big file sizes: ~45 MiB at 1.
 * DIR must not exist or be empty.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tt_common.h"

#include <dirent.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>

static const char *root;
static uint64_t g_seed;
static uint64_t g_stream = 1000;      /* a new content stream per file */
static tt_rng g_rng;                  /* structure decisions */
static int g_root;                    /* running as root: owners */

typedef struct { char *path; unsigned mode; } dirmode;
static dirmode dirmodes[256];
static size_t ndirmodes;

#define MAXRDIRS 128
static char *rdirs[MAXRDIRS];
static size_t nrdirs;

static uint64_t total_bytes;
static unsigned nfiles, ndirs, nlinks;

static char *full(const char *rel)
{
    return tt_join(root, rel);
}

static void set_mtime(const char *p, int nofollow)
{
    struct timespec ts[2];
    /* Between 2001 and 2021, with nanoseconds. */
    ts[0].tv_sec = (time_t)tt_range(&g_rng, 1000000000ULL, 1600000000ULL);
    ts[0].tv_nsec = (long)tt_below(&g_rng, 1000000000ULL);
    ts[1].tv_sec = (time_t)tt_range(&g_rng, 1000000000ULL, 1600000000ULL);
    ts[1].tv_nsec = (long)tt_below(&g_rng, 1000000000ULL);
    if (utimensat(AT_FDCWD, p, ts, nofollow ? AT_SYMLINK_NOFOLLOW : 0) < 0)
        tt_die("utimensat %s", p);
}

static void mk_dir(const char *rel, unsigned mode)
{
    char *p = full(rel);
    if (mkdir(p, 0700) < 0)
        tt_die("mkdir %s", p);
    ndirs++;
    if (mode != 0700) {
        if (ndirmodes == sizeof dirmodes / sizeof dirmodes[0])
            tt_die("too many dir modes");
        dirmodes[ndirmodes].path = p;
        dirmodes[ndirmodes].mode = mode;
        ndirmodes++;
    } else {
        free(p);
    }
}

static void finish_file(const char *p, unsigned mode, long uid, long gid)
{
    if (g_root && uid >= 0 && lchown(p, (uid_t)uid, (gid_t)gid) < 0)
        tt_die("lchown %s", p);
    /* chmod after chown: chown clears set-id bits. */
    if (chmod(p, mode) < 0)
        tt_die("chmod %s", p);
    set_mtime(p, 0);
}

static void mk_file_owned(const char *rel, uint64_t size, unsigned mode, long uid, long gid)
{
    char *p = full(rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        tt_die("create %s", p);
    tt_rng r = tt_rng_for(g_seed, g_stream++);
    tt_write_random(fd, &r, size, p);
    if (close(fd) < 0)
        tt_die("close %s", p);
    finish_file(p, mode, uid, gid);
    total_bytes += size;
    nfiles++;
    free(p);
}

static void mk_file(const char *rel, uint64_t size, unsigned mode)
{
    mk_file_owned(rel, size, mode, -1, -1);
}

/* ftruncate to `size`, then `nwrites` random extents of data. */
static void mk_sparse(const char *rel, uint64_t size, unsigned nwrites)
{
    char *p = full(rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        tt_die("create %s", p);
    if (ftruncate(fd, (off_t)size) < 0)
        tt_die("ftruncate %s", p);
    tt_rng r = tt_rng_for(g_seed, g_stream++);
    static unsigned char buf[200000];
    for (unsigned i = 0; i < nwrites && size > 0; i++) {
        size_t len = (size_t)tt_range(&g_rng, 1, sizeof buf);
        uint64_t off = tt_below(&g_rng, size);
        if (off + len > size)
            len = (size_t)(size - off);
        tt_fill(&r, buf, len);
        tt_pwrite_all(fd, buf, len, (off_t)off, p);
    }
    if (close(fd) < 0)
        tt_die("close %s", p);
    finish_file(p, 0644, -1, -1);
    total_bytes += size;
    nfiles++;
    free(p);
}

static void mk_link(const char *rel, const char *target, long uid, long gid)
{
    char *p = full(rel);
    if (symlink(target, p) < 0)
        tt_die("symlink %s", p);
    if (g_root && uid >= 0 && lchown(p, (uid_t)uid, (gid_t)gid) < 0)
        tt_die("lchown %s", p);
    nlinks++;
    free(p);
}

static uint64_t scaled(double scale, uint64_t v)
{
    double d = (double)v * scale;
    return d < 1 ? 1 : (uint64_t)d;
}

static void add_rdir(const char *rel)
{
    if (nrdirs < MAXRDIRS)
        rdirs[nrdirs++] = tt_strdup(rel);
}

static void fixed_part(double scale)
{
    const uint64_t MiB = 1 << 20;

    /* Boundary sizes around the usual block sizes. */
    mk_file("empty", 0, 0644);
    mk_file("one", 1, 0644);
    mk_file("bs-1", 8191, 0644);
    mk_file("bs", 8192, 0644);
    mk_file("bs+1", 8193, 0644);
    mk_file("two-blocks", 16384, 0644);
    mk_file("odd-size", 100003, 0644);
    mk_file("32k-x3", 3 * 32768, 0644);

    mk_dir("big", 0755);
    mk_file("big/huge.dat", scaled(scale, (16 + tt_below(&g_rng, 5)) * MiB) + 4321, 0644);
    mk_file("big/aligned.dat", scaled(scale, 6 * MiB) / 32768 * 32768 + 32768, 0640);
    mk_file("big/medium.dat", scaled(scale, 3 * MiB) + 1, 0600);

    mk_dir("sparse", 0755);
    mk_sparse("sparse/holes.img", scaled(scale, 8 * MiB) + 17, 5);
    mk_sparse("sparse/all-hole", scaled(scale, 2 * MiB), 0);
    mk_sparse("sparse/tail-hole", 1 * MiB + 3, 1);

    /* Empty directories, one deep chain. */
    mk_dir("empty-dir", 0755);
    mk_dir("nest", 0755);
    mk_dir("nest/a", 0755);
    mk_dir("nest/a/b", 0750);
    mk_dir("nest/a/b/c", 0755);
    mk_dir("nest/a/b/c/d", 0700);
    mk_file("nest/a/file", 5000, 0644);
    mk_file("nest/a/b/c/deep-file", 70000, 0644);

    /* Modes. */
    mk_dir("modes", 0755);
    mk_file("modes/m0600", 1234, 0600);
    mk_file("modes/m0755", 20000, 0755);
    mk_file("modes/m0444", 9000, 0444);
    mk_file("modes/m0400", 100, 0400);
    mk_file("modes/m0666", 300, 0666);
    mk_dir("modes/private", 0700);
    mk_file("modes/private/secret", 777, 0600);
    mk_dir("modes/readonly-dir", 0555);
    mk_file("modes/readonly-dir/inside", 40000, 0644);
    mk_file("modes/readonly-dir/inside-ro", 8192, 0444);
    mk_dir("modes/sticky", 01777);
    mk_file("modes/sticky/f", 10, 0644);

    /* The order trio: "a" < "a/b" < "a.b" for the engine, not for strcmp. */
    mk_dir("order", 0755);
    mk_dir("order/a", 0755);
    mk_file("order/a/b", 3000, 0644);
    mk_file("order/a.b", 3001, 0644);
    mk_file("order/a-b", 3002, 0644);
    mk_file("order/a0", 3003, 0644);
    mk_file("order/a\x01", 3, 0644);

    /* Symlinks. */
    mk_dir("links", 0755);
    mk_link("links/rel", "../one", -1, -1);
    mk_link("links/rel-deep", "../nest/a/b/c/deep-file", -1, -1);
    mk_link("links/abs", "/etc/hostname", -1, -1);
    mk_link("links/abs-missing", "/nonexistent/segsync/target", -1, -1);
    mk_link("links/dangling", "no-such-file", -1, -1);
    mk_link("links/todir", "../nest", -1, -1);
    mk_link("links/todir-abs", "/tmp", -1, -1);
    mk_link("links/self", "self", -1, -1);
    mk_link("links/dot", ".", -1, -1);
    mk_link("links/odd target", "a b\nc\xff", -1, -1);
    {
        char t[1001];
        memset(t, 'x', 1000);
        t[1000] = 0;
        memcpy(t, "../", 3);
        mk_link("links/long-target", t, -1, -1);
    }

    /* Odd names. */
    mk_dir("odd names", 0755);
    mk_file("odd names/with space", 100, 0644);
    mk_file("odd names/new\nline", 8193, 0644);
    mk_file("odd names/tab\there", 10, 0644);
    mk_file("odd names/caf\xc3\xa9", 5555, 0644);
    mk_file("odd names/\xff\xfe-invalid-utf8", 12, 0644);
    mk_file("odd names/-leading-dash", 33, 0644);
    mk_file("odd names/--double-dash", 34, 0644);
    mk_file("odd names/ leading space", 35, 0644);
    mk_file("odd names/trailing space ", 36, 0644);
    mk_file("odd names/*glob?[x]", 37, 0644);
    mk_file("odd names/back\\slash", 38, 0644);
    mk_file("odd names/quote'\"", 39, 0644);
    mk_file("odd names/..dots", 40, 0644);
    mk_file("odd names/.hidden", 41, 0644);
    mk_dir("odd names/-dir with\nnewline", 0755);
    mk_file("odd names/-dir with\nnewline/x", 9000, 0644);
    {
        char n[300];
        strcpy(n, "odd names/");
        size_t b = strlen(n);
        memset(n + b, 'L', 220);
        n[b + 220] = 0;
        mk_file(n, 10000, 0644);
        memset(n + b, 'M', 255);
        n[b + 255] = 0;
        mk_file(n, 77, 0644);
    }

    /* Owners (root only), set-uid survives chown. */
    mk_dir("owned", 0755);
    mk_file_owned("owned/u1234", 4096, 0644, 1234, 5678);
    mk_file_owned("owned/suid", 2000, 04755, 1234, 5678);
    mk_file_owned("owned/sgid", 2001, 02755, 0, 5678);
    mk_dir("owned/dir4321", 0750);
    mk_file_owned("owned/dir4321/f", 10, 0640, 4321, 8765);
    mk_link("owned/link", "u1234", 1234, 5678);
    if (g_root) {
        char *p = full("owned/dir4321");
        if (lchown(p, 4321, 8765) < 0)
            tt_die("lchown %s", p);
        free(p);
    }
}

static const char *odd_piece(tt_rng *r)
{
    static const char *pieces[] = {
        "plain", "with space", "new\nline", "-dash", "\xc3\xa9t\xc3\xa9", "x.y.z",
        "UPPER", "\xe2\x98\x83", "semi;colon", "pct%d", "$dollar", "(paren)",
    };
    return pieces[tt_below(r, sizeof pieces / sizeof pieces[0])];
}

static void random_part(double scale)
{
    mk_dir("r", 0755);
    add_rdir("r");
    unsigned nd = (unsigned)scaled(scale, 20);
    if (nd > MAXRDIRS - 1)
        nd = MAXRDIRS - 1;
    for (unsigned i = 0; i < nd; i++) {
        const char *parent = rdirs[tt_below(&g_rng, nrdirs)];
        char name[512];
        if (tt_below(&g_rng, 4) == 0)
            snprintf(name, sizeof name, "%s/d%02u %s", parent, i, odd_piece(&g_rng));
        else
            snprintf(name, sizeof name, "%s/d%02u", parent, i);
        if (strlen(name) > 300)
            continue;
        static const unsigned modes[] = { 0755, 0755, 0755, 0700, 0750, 0775 };
        mk_dir(name, modes[tt_below(&g_rng, 6)]);
        add_rdir(name);
    }
    unsigned nf = (unsigned)scaled(scale, 80);
    for (unsigned i = 0; i < nf; i++) {
        const char *dir = rdirs[tt_below(&g_rng, nrdirs)];
        char name[512];
        if (tt_below(&g_rng, 6) == 0)
            snprintf(name, sizeof name, "%s/f%03u %s", dir, i, odd_piece(&g_rng));
        else
            snprintf(name, sizeof name, "%s/f%03u.dat", dir, i);
        uint64_t size;
        unsigned k = (unsigned)tt_below(&g_rng, 100);
        if (k < 10)
            size = 8192 * tt_range(&g_rng, 0, 8);           /* block multiples */
        else if (k < 50)
            size = tt_range(&g_rng, 0, 16384);
        else if (k < 85)
            size = tt_range(&g_rng, 16384, 262144);
        else
            size = tt_range(&g_rng, 262144, 1572864);
        static const unsigned modes[] = { 0644, 0644, 0644, 0600, 0755, 0444, 0640 };
        mk_file(name, size, modes[tt_below(&g_rng, 7)]);
    }
    /* A few random symlinks between random places. */
    unsigned nl = (unsigned)scaled(scale, 6);
    for (unsigned i = 0; i < nl; i++) {
        const char *dir = rdirs[tt_below(&g_rng, nrdirs)];
        char name[512], target[64];
        snprintf(name, sizeof name, "%s/l%02u", dir, i);
        snprintf(target, sizeof target, "%sf%03u.dat", tt_below(&g_rng, 2) ? "../" : "",
                 (unsigned)tt_below(&g_rng, nf ? nf : 1));
        mk_link(name, target, -1, -1);
    }
}

int main(int argc, char **argv)
{
    tt_prog = "mktree";
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: mktree SEED DIR [SCALE]\n");
        return 2;
    }
    char *end;
    g_seed = strtoull(argv[1], &end, 0);
    if (*end)
        tt_die("bad seed %s", argv[1]);
    double scale = argc == 4 ? strtod(argv[3], &end) : 1.0;
    if (argc == 4 && (*end || !(scale > 0) || scale > 100))
        tt_die("bad scale %s", argv[3]);
    root = argv[2];
    g_rng = tt_rng_for(g_seed, 1);
    g_root = geteuid() == 0;
    umask(022);

    if (mkdir(root, 0755) < 0 && errno != EEXIST)
        tt_die("mkdir %s", root);
    DIR *d = opendir(root);
    if (!d)
        tt_die("opendir %s", root);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            tt_die("%s is not empty", root);
    closedir(d);

    fixed_part(scale);
    random_part(scale);

    /* Directory modes last, deepest (latest created) first, so read-only
     * directories could be filled. */
    for (size_t i = ndirmodes; i-- > 0;) {
        if (chmod(dirmodes[i].path, dirmodes[i].mode) < 0)
            tt_die("chmod %s", dirmodes[i].path);
        free(dirmodes[i].path);
    }
    for (size_t i = 0; i < nrdirs; i++)
        free(rdirs[i]);
    printf("mktree: seed %llu: %u files (%llu bytes), %u dirs, %u symlinks in %s\n",
           (unsigned long long)g_seed, nfiles, (unsigned long long)total_bytes, ndirs, nlinks,
           root);
    return 0;
}
