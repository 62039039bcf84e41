/* test_sync.c — the orchestration on small real trees: what each mode
 * writes, what it counts, the known-blocks hook, verify's answer, dry-run,
 * cancellation. Expected values come from the trees the test builds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/source.h"
#include "engine/sync.h"

#define BS 4096

typedef struct {
    char root[256], src[300], dst[300];
} fx;

static void put(const char *dir, const char *name, size_t size, unsigned seed)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    unsigned char *b = malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++)
        b[i] = (unsigned char)((i * 2654435761u + seed * 40503u) >> 13);
    assert_int_equal(write(fd, b, size), (ssize_t)size);
    free(b);
    close(fd);
}

static void poke(const char *dir, const char *name, off_t off, char c)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

static int same_file(const char *a, const char *b, const char *name)
{
    char pa[600], pb[600], cmd[1400];
    snprintf(pa, sizeof pa, "%s/%s", a, name);
    snprintf(pb, sizeof pb, "%s/%s", b, name);
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", pa, pb);
    return system(cmd) == 0;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/test_sync.XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->src, sizeof f->src, "%s/src", f->root);
    snprintf(f->dst, sizeof f->dst, "%s/dst", f->root);
    assert_int_equal(mkdir(f->src, 0755), 0);
    put(f->src, "a", 10 * BS, 1);
    put(f->src, "b", 3 * BS + 100, 2);
    put(f->src, "empty", 0, 3);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static int run(fx *f, ss_mode mode, int dry, ss_counters *c,
               int (*kb)(void *, const char *, const uint32_t **, size_t *))
{
    ss_source *src;
    ss_err err = {0};
    assert_int_equal(ss_source_local_open(&src, f->src, NULL, &err), 0);
    ss_sync_opts o = { .mode = mode, .jobs = 2, .block_size = BS, .chunk_size = 2 * BS,
                       .dry_run = dry, .mtime = 1, .known_blocks = kb };
    memset(c, 0, sizeof *c);
    int rc = ss_sync(src, f->dst, &o, c, &err);
    src->ops->destroy(src);
    if (rc < 0)
        print_message("ss_sync: %s\n", err.msg);
    return rc;
}

static void test_full_then_diff(void **state)
{
    fx *f = *state;
    ss_counters c;
    assert_int_equal(run(f, SS_MODE_FULL, 0, &c, NULL), 0);
    assert_int_equal(atomic_load(&c.files_copied), 3);
    assert_int_equal(atomic_load(&c.bytes_transferred), 13 * BS + 100);
    assert_true(same_file(f->src, f->dst, "a") && same_file(f->src, f->dst, "b"));

    /* One byte in block 7 of a, and b grows by one block in the source. */
    poke(f->dst, "a", 7 * BS + 5, 'x');
    put(f->src, "b", 4 * BS + 100, 2);
    assert_int_equal(run(f, SS_MODE_VERIFY, 0, &c, NULL), 1);
    assert_int_equal(run(f, SS_MODE_DIFF, 0, &c, NULL), 0);
    /* a: one block; b: block 3 (was 100 bytes, now a full block) and block 4
     * (100 new bytes). */
    assert_int_equal(atomic_load(&c.blocks_changed), 3);
    assert_int_equal(atomic_load(&c.bytes_transferred), BS + BS + 100);
    assert_int_equal(atomic_load(&c.files_updated), 2);
    assert_true(same_file(f->src, f->dst, "a") && same_file(f->src, f->dst, "b"));
    assert_int_equal(run(f, SS_MODE_VERIFY, 0, &c, NULL), 0);
}

static void test_dry_run_writes_nothing(void **state)
{
    fx *f = *state;
    ss_counters c;
    assert_int_equal(run(f, SS_MODE_FULL, 0, &c, NULL), 0);
    poke(f->dst, "a", 0, 'y');
    assert_int_equal(run(f, SS_MODE_DIFF, 1, &c, NULL), 0);
    assert_int_equal(atomic_load(&c.blocks_changed), 1);
    assert_int_equal(atomic_load(&c.bytes_written), 0);
    assert_false(same_file(f->src, f->dst, "a"));
}

/* Known blocks: only the listed blocks travel, even when others differ —
 * the caller (the WAL) is trusted, and the target is not read. */
static int known_a_block2(void *ctx, const char *path, const uint32_t **b, size_t *n)
{
    (void)ctx;
    static const uint32_t two[] = { 2 };
    if (strcmp(path, "a"))
        return 0;
    *b = two;
    *n = 1;
    return 1;
}

static void test_known_blocks(void **state)
{
    fx *f = *state;
    ss_counters c;
    assert_int_equal(run(f, SS_MODE_FULL, 0, &c, NULL), 0);
    poke(f->dst, "a", 2 * BS, 'p');
    poke(f->dst, "a", 5 * BS, 'q');   /* not listed: stays different */
    assert_int_equal(run(f, SS_MODE_DIFF, 0, &c, known_a_block2), 0);
    assert_int_equal(atomic_load(&c.bytes_transferred), BS);
    assert_int_equal(run(f, SS_MODE_VERIFY, 0, &c, NULL), 1);
    /* A plain differential finds the remaining block. */
    assert_int_equal(run(f, SS_MODE_DIFF, 0, &c, NULL), 0);
    assert_int_equal(atomic_load(&c.blocks_changed), 1);
    assert_int_equal(run(f, SS_MODE_VERIFY, 0, &c, NULL), 0);
}

static void test_extra_removed_and_missing_source(void **state)
{
    fx *f = *state;
    ss_counters c;
    assert_int_equal(run(f, SS_MODE_FULL, 0, &c, NULL), 0);
    put(f->dst, "extra", 5, 9);
    assert_int_equal(run(f, SS_MODE_DIFF, 0, &c, NULL), 0);
    assert_int_equal(atomic_load(&c.files_deleted), 1);
    char p[600];
    snprintf(p, sizeof p, "%s/extra", f->dst);
    assert_int_equal(access(p, F_OK), -1);

    ss_source *src;
    ss_err err = {0};
    snprintf(p, sizeof p, "%s/nope", f->root);
    assert_int_equal(ss_source_local_open(&src, p, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "nope"));
}

static void link_time(const char *dir, const char *name, time_t sec, long nsec)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };
    assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static struct timespec link_mtime(const char *dir, const char *name)
{
    char p[600];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    return st.st_mtim;
}

/* A symlink arrives with its own mtime, and a link whose text is right but
 * whose time is not (what a run killed between making a link and setting
 * its time used to leave) is repaired by the next differential. */
static void test_symlink_times(void **state)
{
    fx *f = *state;
    ss_counters c;
    char p[600];
    snprintf(p, sizeof p, "%s/l", f->src);
    assert_int_equal(symlink("no/such/target", p), 0);
    link_time(f->src, "l", 1000000000, 7);
    assert_int_equal(run(f, SS_MODE_FULL, 0, &c, NULL), 0);
    struct timespec t = link_mtime(f->dst, "l");
    assert_int_equal(t.tv_sec, 1000000000);
    assert_int_equal(t.tv_nsec, 7);

    link_time(f->dst, "l", 1200000000, 0);
    assert_int_equal(run(f, SS_MODE_DIFF, 0, &c, NULL), 0);
    t = link_mtime(f->dst, "l");
    assert_int_equal(t.tv_sec, 1000000000);
    assert_int_equal(t.tv_nsec, 7);
    char buf[64];
    snprintf(p, sizeof p, "%s/l", f->dst);
    ssize_t n = readlink(p, buf, sizeof buf);
    assert_int_equal(n, 14);
    assert_memory_equal(buf, "no/such/target", 14);
    snprintf(p, sizeof p, "find '%s' -name '.segsync.*' | grep -q .", f->dst);
    assert_int_not_equal(system(p), 0);
}

static struct timespec ctime_of(const char *dir, const char *name)
{
    char p[600];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(stat(p, &st), 0);
    return st.st_ctim;
}

static int same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* A differential leaves a file it found equal as it was -- not even its
 * inode touched (ctime) -- and still gives a changed file, and a read-only
 * one it had to make writable, the source's mtime and mode. */
static void test_untouched_files_keep_their_inode(void **state)
{
    fx *f = *state;
    ss_counters c;
    char p[600];
    assert_int_equal(run(f, SS_MODE_FULL, 0, &c, NULL), 0);
    struct timespec ca = ctime_of(f->dst, "a"), cb = ctime_of(f->dst, "b");
    usleep(20000);      /* a touched inode would get a later ctime */
    poke(f->dst, "b", 1, 'z');
    snprintf(p, sizeof p, "%s/b", f->src);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    /* the target's b: read-only (0444 with the source at 0444 too) */
    assert_int_equal(chmod(p, 0444), 0);
    assert_int_equal(stat(p, &sb), 0);
    snprintf(p, sizeof p, "%s/b", f->dst);
    assert_int_equal(chmod(p, 0444), 0);
    struct timespec ts[2] = { sb.st_atim, sb.st_mtim };
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    cb = ctime_of(f->dst, "b");
    usleep(20000);
    assert_int_equal(run(f, SS_MODE_DIFF, 0, &c, NULL), 0);
    assert_int_equal(atomic_load(&c.files_updated), 1);
    assert_true(same_time(ctime_of(f->dst, "a"), ca));
    assert_false(same_time(ctime_of(f->dst, "b"), cb));
    assert_true(same_file(f->src, f->dst, "b"));
    struct stat db;
    assert_int_equal(stat(p, &db), 0);
    assert_int_equal(db.st_mode & 07777, 0444);
    assert_true(same_time(db.st_mtim, sb.st_mtim));
    /* nothing differs now: nothing is touched */
    cb = ctime_of(f->dst, "b");
    usleep(20000);
    assert_int_equal(run(f, SS_MODE_DIFF, 0, &c, NULL), 0);
    assert_true(same_time(ctime_of(f->dst, "a"), ca));
    assert_true(same_time(ctime_of(f->dst, "b"), cb));
}

static int always(void *ctx) { (void)ctx; return 1; }

static void test_cancel(void **state)
{
    fx *f = *state;
    ss_source *src;
    ss_err err = {0};
    ss_counters c = {0};
    assert_int_equal(ss_source_local_open(&src, f->src, NULL, &err), 0);
    ss_sync_opts o = { .mode = SS_MODE_FULL, .jobs = 1, .block_size = BS, .cancelled = always };
    assert_int_equal(ss_sync(src, f->dst, &o, &c, &err), -1);
    assert_int_equal(err.sys_errno, EINTR);
    src->ops->destroy(src);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test_setup_teardown(test_full_then_diff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extra_removed_and_missing_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untouched_files_keep_their_inode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
