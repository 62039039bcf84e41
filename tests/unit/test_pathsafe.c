/*
 * test_pathsafe.c — engine/pathsafe: ss_path_is_safe rejects absolute,
 * empty, "." and ".." components; ss_open_beneath / ss_open_parent never
 * leave the root through a symlink (final or intermediate, relative or
 * absolute), and the files outside stay untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/pathsafe.h"

static char base[256], root[300], outside[300];
static int rootfd = -1;

static void put(const char *dir, const char *rel, const char *content)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void content_is(const char *dir, const char *rel, const char *want)
{
    char p[700], buf[256] = { 0 };
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    assert_string_equal(buf, want);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)f;
    if (flag == FTW_DP)
        rmdir(p);
    else
        unlink(p);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    strcpy(base, "/tmp/ss-test-pathsafe.XXXXXX");
    if (!mkdtemp(base))
        return -1;
    snprintf(root, sizeof root, "%s/root", base);
    snprintf(outside, sizeof outside, "%s/outside", base);
    if (mkdir(root, 0755) || mkdir(outside, 0755))
        return -1;
    char p[700];
    snprintf(p, sizeof p, "%s/d", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/d/e", root);
    mkdir(p, 0755);
    put(root, "d/f", "inside");
    put(root, "top", "top");
    put(outside, "secret", "outside-secret");
    /* links: to the outside (absolute, relative), to inside things */
    snprintf(p, sizeof p, "%s/abs-out", root);
    symlink(outside, p);
    snprintf(p, sizeof p, "%s/rel-out", root);
    symlink("../outside", p);
    snprintf(p, sizeof p, "%s/d/up", root);
    symlink("..", p);
    snprintf(p, sizeof p, "%s/to-f", root);
    symlink("d/f", p);
    snprintf(p, sizeof p, "%s/to-d", root);
    symlink("d", p);
    snprintf(p, sizeof p, "%s/file-out", root);
    char t[400];
    snprintf(t, sizeof t, "%s/secret", outside);
    symlink(t, p);
    rootfd = open(root, O_RDONLY | O_DIRECTORY);
    return rootfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    close(rootfd);
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void test_is_safe(void **state)
{
    (void)state;
    const char *good[] = { "a", "a/b", "a.b", "..a", "a..", "a/..b", ".a/b.", "...",
                           "a b/c\nd", "-x", "a/b/c/d/e/f" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(ss_path_is_safe(good[i]));
    const char *bad[] = { "", "/", "/a", "/etc/passwd", "a/", "a//b", "//a", ".", "..",
                          "./a", "a/.", "a/./b", "a/..", "a/../b", "../a", "../../etc",
                          "a/b/../../..", "./" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ss_path_is_safe(bad[i]))
            fail_msg("ss_path_is_safe accepted \"%s\"", bad[i]);
    }
    assert_false(ss_path_is_safe(NULL));
}

static void test_open_inside(void **state)
{
    (void)state;
    int fd = ss_open_beneath(rootfd, "d/f", O_RDONLY, 0);
    assert_true(fd >= 0);
    char buf[32] = { 0 };
    assert_int_equal(read(fd, buf, sizeof buf - 1), 6);
    assert_string_equal(buf, "inside");
    close(fd);
    fd = ss_open_beneath(rootfd, "d/e", O_RDONLY | O_DIRECTORY, 0);
    assert_true(fd >= 0);
    close(fd);
    /* creating a new file beneath */
    fd = ss_open_beneath(rootfd, "d/e/new", O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "n", 1), 1);
    close(fd);
    content_is(root, "d/e/new", "n");
    struct stat st;
    char p[700];
    snprintf(p, sizeof p, "%s/d/e/new", root);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0077, 0);
    /* missing */
    assert_int_equal(ss_open_beneath(rootfd, "nope", O_RDONLY, 0), -ENOENT);
    assert_int_equal(ss_open_beneath(rootfd, "nope/x", O_RDONLY, 0), -ENOENT);
    /* through a file */
    assert_true(ss_open_beneath(rootfd, "top/x", O_RDONLY, 0) < 0);
}

static void test_unsafe_paths_refused(void **state)
{
    (void)state;
    assert_int_equal(ss_open_beneath(rootfd, "../outside/secret", O_RDONLY, 0), -EINVAL);
    char abs[700];
    snprintf(abs, sizeof abs, "%s/secret", outside);
    assert_int_equal(ss_open_beneath(rootfd, abs, O_RDONLY, 0), -EINVAL);
    assert_int_equal(ss_open_beneath(rootfd, "d/../top", O_RDONLY, 0), -EINVAL);
    assert_int_equal(ss_open_beneath(rootfd, "./top", O_RDONLY, 0), -EINVAL);
    assert_int_equal(ss_open_beneath(rootfd, "", O_RDONLY, 0), -EINVAL);
    assert_int_equal(ss_open_beneath(rootfd, "d//f", O_RDONLY, 0), -EINVAL);
}

static void test_symlinks_refused(void **state)
{
    (void)state;
    /* intermediate symlinks to the outside: absolute and relative */
    assert_true(ss_open_beneath(rootfd, "abs-out/secret", O_RDONLY, 0) < 0);
    assert_true(ss_open_beneath(rootfd, "rel-out/secret", O_RDONLY, 0) < 0);
    assert_true(ss_open_beneath(rootfd, "d/up/top", O_RDONLY, 0) < 0);
    /* even an intermediate symlink that stays inside */
    assert_true(ss_open_beneath(rootfd, "to-d/f", O_RDONLY, 0) < 0);
    /* final component a symlink: not followed */
    assert_true(ss_open_beneath(rootfd, "to-f", O_RDONLY, 0) < 0);
    assert_true(ss_open_beneath(rootfd, "file-out", O_RDONLY, 0) < 0);
    /* write attempts through links leave the outside untouched */
    int fd = ss_open_beneath(rootfd, "file-out", O_WRONLY | O_TRUNC, 0);
    assert_true(fd < 0);
    fd = ss_open_beneath(rootfd, "file-out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd < 0);
    fd = ss_open_beneath(rootfd, "abs-out/secret", O_WRONLY | O_TRUNC, 0);
    assert_true(fd < 0);
    fd = ss_open_beneath(rootfd, "rel-out/newfile", O_WRONLY | O_CREAT, 0644);
    assert_true(fd < 0);
    fd = ss_open_beneath(rootfd, "abs-out", O_RDONLY | O_DIRECTORY, 0);
    assert_true(fd < 0);
    content_is(outside, "secret", "outside-secret");
    char p[700];
    snprintf(p, sizeof p, "%s/newfile", outside);
    assert_int_equal(access(p, F_OK), -1);
}

static void test_open_parent(void **state)
{
    (void)state;
    const char *b = NULL;
    int fd = ss_open_parent(rootfd, "d/f", &b);
    assert_true(fd >= 0);
    assert_string_equal(b, "f");
    struct stat st;
    assert_int_equal(fstatat(fd, b, &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 6);
    close(fd);
    /* one component: the root itself (a new descriptor) */
    fd = ss_open_parent(rootfd, "top", &b);
    assert_true(fd >= 0);
    assert_true(fd != rootfd);
    assert_string_equal(b, "top");
    assert_int_equal(fstatat(fd, b, &st, 0), 0);
    close(fd);
    /* deep */
    fd = ss_open_parent(rootfd, "d/e/x", &b);
    assert_true(fd >= 0);
    assert_string_equal(b, "x");
    close(fd);
    /* the parent is a symlink (inside or outside): refused */
    assert_true(ss_open_parent(rootfd, "abs-out/secret", &b) < 0);
    assert_true(ss_open_parent(rootfd, "rel-out/secret", &b) < 0);
    assert_true(ss_open_parent(rootfd, "to-d/f", &b) < 0);
    assert_true(ss_open_parent(rootfd, "d/up/top", &b) < 0);
    /* unsafe */
    assert_int_equal(ss_open_parent(rootfd, "../x", &b), -EINVAL);
    assert_int_equal(ss_open_parent(rootfd, "/x", &b), -EINVAL);
    assert_int_equal(ss_open_parent(rootfd, "d/..", &b), -EINVAL);
    /* a symlink as the last component is fine for ss_open_parent: the
     * caller acts on the name (e.g. unlinkat), not through it */
    fd = ss_open_parent(rootfd, "d/up", &b);
    assert_true(fd >= 0);
    assert_string_equal(b, "up");
    close(fd);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_safe),
        T(test_open_inside),
        T(test_unsafe_paths_refused),
        T(test_symlinks_refused),
        T(test_open_parent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
