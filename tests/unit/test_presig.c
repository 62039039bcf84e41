/* test_presig.c — engine/presig: the target's signatures hashed ahead are
 * those the engine would compute (ss_sig_blocks over the same bytes), for
 * any block-aligned range; a file changed after it was hashed, another
 * block size, a path it never saw, a symlink and a spent budget all give
 * "not here" (0), never stale signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/presig.h"

#define BS 8192u

typedef struct {
    char dir[64];
} fixture;

static const struct {
    const char *path;
    size_t size;
} files[] = {
    { "a", 3 * BS + 100 },      /* a partial last block */
    { "b/c", 40 * BS },
    { "b/empty", 0 },
    { "b/small", 17 },
    { "d/e/f", (1u << 20) + 5 * BS + 1 },  /* more than one read piece */
};

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (unsigned char)x;
    }
}

static void write_at(const char *dir, const char *rel, const unsigned char *p, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/segsync-test-presig.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    char p[256];
    snprintf(p, sizeof p, "%s/b", f->dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/d", f->dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/d/e", f->dir);
    mkdir(p, 0755);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        unsigned char *buf = malloc(files[i].size + 1);
        fill(buf, files[i].size, (unsigned)i);
        write_at(f->dir, files[i].path, buf, files[i].size);
        free(buf);
    }
    /* A symlink to a file outside the tree: never followed, never hashed. */
    snprintf(p, sizeof p, "%s/link", f->dir);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void stat_of(const fixture *f, const char *rel, struct stat *st)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", f->dir, rel);
    assert_int_equal(lstat(path, st), 0);
}

/* What the engine computes for [off, off+len) of the file on disk now. */
static size_t expected(const fixture *f, const char *rel, uint64_t off, uint64_t len, ss_sig *out)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", f->dir, rel);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    unsigned char *buf = malloc(len + 1);
    assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
    size_t n = ss_sig_blocks(buf, len, BS, out);
    free(buf);
    return n;
}

static void test_matches_engine(void **state)
{
    fixture *f = *state;
    ss_presig *p;
    ss_err err;
    assert_int_equal(ss_presig_start(&p, f->dir, BS, 1u << 20, &err), 0);
    ss_presig_wait(p);
    size_t nfiles;
    uint64_t bytes;
    ss_presig_stats(p, &nfiles, &bytes);
    assert_int_equal(nfiles, 5);
    uint64_t total = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        total += files[i].size;
    assert_int_equal(bytes, total);

    ss_sig *want = calloc(1024, sizeof *want);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct stat st;
        stat_of(f, files[i].path, &st);
        uint64_t size = (uint64_t)st.st_size;
        /* Whole file, and every block-aligned range of up to 3 blocks. */
        for (uint64_t off = 0; off <= size; off += BS) {
            uint64_t lens[] = { size - off, BS, 3 * BS };
            for (size_t k = 0; k < 3; k++) {
                uint64_t len = lens[k] < size - off ? lens[k] : size - off;
                if (k > 0 && off == 0 && len == size)
                    continue;
                const ss_sig *got;
                size_t n;
                assert_int_equal(ss_presig_lookup(p, files[i].path, size, st.st_mtim.tv_sec,
                                                  st.st_mtim.tv_nsec, BS, off, len, &got, &n), 1);
                size_t wn = expected(f, files[i].path, off, len, want);
                assert_int_equal(n, wn);
                assert_memory_equal(got, want, n * sizeof *got);
            }
        }
    }
    free(want);

    /* Not there, or not the same file any more: 0. */
    struct stat st;
    const ss_sig *got;
    size_t n;
    stat_of(f, "a", &st);
    assert_int_equal(ss_presig_lookup(p, "nope", 1, 0, 0, BS, 0, 1, &got, &n), 0);
    assert_int_equal(ss_presig_lookup(p, "link", 0, 0, 0, BS, 0, 0, &got, &n), 0);
    assert_int_equal(ss_presig_lookup(p, "a", (uint64_t)st.st_size, st.st_mtim.tv_sec,
                                      st.st_mtim.tv_nsec, 4096, 0, BS, &got, &n), 0);
    assert_int_equal(ss_presig_lookup(p, "a", (uint64_t)st.st_size + 1, st.st_mtim.tv_sec,
                                      st.st_mtim.tv_nsec, BS, 0, BS, &got, &n), 0);
    assert_int_equal(ss_presig_lookup(p, "a", (uint64_t)st.st_size, st.st_mtim.tv_sec,
                                      st.st_mtim.tv_nsec + 1, BS, 0, BS, &got, &n), 0);
    /* A range that ends inside a block the file goes on past (the source
     * is the shorter file): that block's signature covers other bytes. */
    assert_int_equal(ss_presig_lookup(p, "a", (uint64_t)st.st_size, st.st_mtim.tv_sec,
                                      st.st_mtim.tv_nsec, BS, 0, BS - 1, &got, &n), 0);
    assert_int_equal(ss_presig_lookup(p, "a", (uint64_t)st.st_size, st.st_mtim.tv_sec,
                                      st.st_mtim.tv_nsec, BS, BS, 2 * BS + 1, &got, &n), 0);
    /* A range that is not block-aligned or passes the end. */
    assert_int_equal(ss_presig_lookup(p, "a", (uint64_t)st.st_size, st.st_mtim.tv_sec,
                                      st.st_mtim.tv_nsec, BS, 100, BS, &got, &n), 0);
    assert_int_equal(ss_presig_lookup(p, "a", (uint64_t)st.st_size, st.st_mtim.tv_sec,
                                      st.st_mtim.tv_nsec, BS, BS, (uint64_t)st.st_size, &got,
                                      &n), 0);
    ss_presig_free(p);
}

static void test_changed_file_is_not_served(void **state)
{
    fixture *f = *state;
    ss_presig *p;
    ss_err err;
    assert_int_equal(ss_presig_start(&p, f->dir, BS, 1u << 20, &err), 0);
    ss_presig_wait(p);
    /* The file is rewritten (same size) with a new mtime: the engine's walk
     * sees the new mtime, and the old signatures must not be handed out. */
    unsigned char buf[3 * BS + 100];
    fill(buf, sizeof buf, 99);
    struct timespec later[2] = { { 0, UTIME_OMIT }, { time(NULL) + 100, 0 } };
    write_at(f->dir, "a", buf, sizeof buf);
    char path[256];
    snprintf(path, sizeof path, "%s/a", f->dir);
    assert_int_equal(utimensat(AT_FDCWD, path, later, 0), 0);
    struct stat st;
    stat_of(f, "a", &st);
    const ss_sig *got;
    size_t n;
    assert_int_equal(ss_presig_lookup(p, "a", (uint64_t)st.st_size, st.st_mtim.tv_sec,
                                      st.st_mtim.tv_nsec, BS, 0, BS, &got, &n), 0);
    ss_presig_free(p);
}

static void test_budget_and_stop(void **state)
{
    fixture *f = *state;
    ss_presig *p;
    ss_err err;
    /* Room for 10 signatures: "a" (4 blocks) fits, "b/c" (40) does not,
     * and nothing after it is hashed either. */
    assert_int_equal(ss_presig_start(&p, f->dir, BS, 10 * sizeof(ss_sig), &err), 0);
    ss_presig_wait(p);
    size_t nfiles;
    uint64_t bytes;
    ss_presig_stats(p, &nfiles, &bytes);
    assert_int_equal(nfiles, 1);
    assert_int_equal(bytes, files[0].size);
    struct stat st;
    const ss_sig *got;
    size_t n;
    stat_of(f, "b/small", &st);
    assert_int_equal(ss_presig_lookup(p, "b/small", 17, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                                      BS, 0, 17, &got, &n), 0);
    ss_presig_stop(p);      /* after wait: harmless */
    ss_presig_free(p);

    /* Stopped at once: whatever it kept is consistent, and it ends. */
    assert_int_equal(ss_presig_start(&p, f->dir, BS, 1u << 20, &err), 0);
    ss_presig_stop(p);
    ss_presig_stats(p, &nfiles, &bytes);
    assert_true(nfiles <= 5);
    ss_presig_free(p);

    /* A missing root: no signatures, no error. */
    assert_int_equal(ss_presig_start(&p, "/nonexistent/segsync-presig", BS, 1u << 20, &err), 0);
    ss_presig_wait(p);
    ss_presig_stats(p, &nfiles, &bytes);
    assert_int_equal(nfiles, 0);
    ss_presig_free(p);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test_setup_teardown(test_matches_engine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_file_is_not_served, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_and_stop, setup, teardown),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
