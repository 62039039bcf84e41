/*
 * test_walk.c — engine/walk: listing order (ss_path_cmp), lstat semantics
 * (symlinks listed, never followed), special files skipped and reported or
 * kept with keep_other, filter, errors, entry list helpers.
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

#include "engine/walk.h"

static char root[256];

static void put(const char *rel, size_t size, mode_t mode)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    while (size) {
        size_t n = size < sizeof buf ? size : sizeof buf;
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
        size -= n;
    }
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void dir(const char *rel, mode_t mode)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    assert_int_equal(mkdir(p, mode), 0);
    assert_int_equal(chmod(p, mode), 0);
}

static void lnk(const char *rel, const char *target)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    assert_int_equal(symlink(target, p), 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)f;
    if (flag == FTW_DP)
        chmod(p, 0700), rmdir(p);
    else
        unlink(p);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    strcpy(root, "/tmp/ss-test-walk.XXXXXX");
    if (!mkdtemp(root))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static const ss_entry *find(const ss_entry_list *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].path, path))
            return &l->v[i];
    return NULL;
}

/* ---- ss_path_cmp ---- */

static void test_path_cmp_order(void **state)
{
    (void)state;
    assert_true(ss_path_cmp("a", "a/b") < 0);
    assert_true(ss_path_cmp("a/b", "a.b") < 0);
    assert_true(ss_path_cmp("a", "a.b") < 0);
    assert_true(ss_path_cmp("a/z", "a.b") < 0);     /* contents before sibling "a.b" */
    assert_true(ss_path_cmp("a/b", "a-b") < 0);     /* '-' (0x2d) is below '/' in strcmp */
    assert_true(ss_path_cmp("a/b/c", "a/b.c") < 0);
    assert_true(ss_path_cmp("a/\x01", "a\x01") < 0); /* '/' lowest, below even 0x01 */
    assert_true(ss_path_cmp("a", "ab") < 0);
    assert_true(ss_path_cmp("z", "\xc3\xa9") < 0);   /* bytes are unsigned */
    assert_true(ss_path_cmp("a/b", "a/c") < 0);
    assert_int_equal(ss_path_cmp("a/b", "a/b"), 0);
    assert_int_equal(ss_path_cmp("", ""), 0);
    assert_true(ss_path_cmp("", "a") < 0);
    /* Antisymmetric. */
    const char *v[] = { "a", "a/b", "a.b", "a-b", "a0", "a/b/c", "ab", "b", "\xff", "a\x01", " " };
    size_t n = sizeof v / sizeof v[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int x = ss_path_cmp(v[i], v[j]), y = ss_path_cmp(v[j], v[i]);
            assert_true((x < 0 && y > 0) || (x > 0 && y < 0) || (x == 0 && y == 0 && i == j));
        }
}

static void test_sort_list(void **state)
{
    (void)state;
    ss_entry_list l = { 0 };
    ss_err err = { 0 };
    const char *names[] = { "a.b", "a/b", "b", "a", "a-b", "a/b/c", "a0" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ss_entry e = { 0 };
        e.path = (char *)names[i];
        e.type = SS_FT_REG;
        assert_int_equal(ss_entry_list_push(&l, &e, &err), 0);
    }
    ss_entry_list_sort(&l);
    const char *want[] = { "a", "a/b", "a/b/c", "a-b", "a.b", "a0", "b" };
    assert_int_equal(l.n, 7);
    for (size_t i = 0; i < l.n; i++)
        assert_string_equal(l.v[i].path, want[i]);
    ss_entry_list_free(&l);
    assert_int_equal(l.n, 0);
    assert_null(l.v);
}

static void test_push_copies_strings(void **state)
{
    (void)state;
    ss_entry_list l = { 0 };
    ss_err err = { 0 };
    char path[] = "some/path", link[] = "target";
    ss_entry e = { 0 };
    e.path = path;
    e.link = link;
    e.type = SS_FT_LNK;
    assert_int_equal(ss_entry_list_push(&l, &e, &err), 0);
    path[0] = 'X', link[0] = 'X';
    assert_string_equal(l.v[0].path, "some/path");
    assert_string_equal(l.v[0].link, "target");
    /* Grows past its first capacity. */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ss_entry_list_push(&l, &e, &err), 0);
    assert_int_equal(l.n, 1001);
    ss_entry_list_free(&l);
}

/* ---- ss_walk on a real tree ---- */

static void test_walk_order_and_fields(void **state)
{
    (void)state;
    dir("a", 0750);
    put("a/b", 1234, 0640);
    put("a.b", 0, 0600);
    put("a-b", 8193, 0755);
    put("a0", 1, 0444);
    dir("empty", 0700);
    dir("a/deep", 0755);
    put("a/deep/f", 10, 0644);
    put("new\nline", 3, 0644);
    ss_entry_list l;
    ss_err err = { 0 };
    assert_int_equal(ss_walk(root, NULL, &l, &err), 0);
    /* Strictly increasing in ss_path_cmp order: directory before contents,
     * contents right after their directory. */
    for (size_t i = 1; i < l.n; i++)
        assert_true(ss_path_cmp(l.v[i - 1].path, l.v[i].path) < 0);
    const char *want[] = { "a", "a/b", "a/deep", "a/deep/f", "a-b", "a.b", "a0", "empty", "new\nline" };
    assert_int_equal(l.n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < l.n; i++)
        assert_string_equal(l.v[i].path, want[i]);
    const ss_entry *e = find(&l, "a/b");
    assert_non_null(e);
    assert_int_equal(e->type, SS_FT_REG);
    assert_int_equal(e->size, 1234);
    assert_int_equal(e->mode, 0640);
    assert_null(e->link);
    e = find(&l, "a");
    assert_int_equal(e->type, SS_FT_DIR);
    assert_int_equal(e->mode, 0750);
    assert_int_equal(e->size, 0);
    e = find(&l, "a-b");
    assert_int_equal(e->size, 8193);
    assert_int_equal(e->mode, 0755);
    e = find(&l, "a0");
    assert_int_equal(e->mode, 0444);
    /* uid/mtime from lstat. */
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/a-b", root);
    assert_int_equal(lstat(p, &st), 0);
    e = find(&l, "a-b");
    assert_int_equal(e->uid, st.st_uid);
    assert_int_equal(e->gid, st.st_gid);
    assert_int_equal(e->mtime_sec, st.st_mtim.tv_sec);
    assert_int_equal(e->mtime_nsec, st.st_mtim.tv_nsec);
    ss_entry_list_free(&l);
}

static void test_walk_symlinks_not_followed(void **state)
{
    (void)state;
    dir("d", 0755);
    put("d/inside", 100, 0644);
    lnk("to-dir", "d");
    lnk("to-abs-dir", "/etc");
    lnk("dangling", "no/such/thing");
    lnk("loop", "loop");
    ss_entry_list l;
    ss_err err = { 0 };
    assert_int_equal(ss_walk(root, NULL, &l, &err), 0);
    const ss_entry *e = find(&l, "to-dir");
    assert_non_null(e);
    assert_int_equal(e->type, SS_FT_LNK);
    assert_string_equal(e->link, "d");
    assert_int_equal(e->size, 0);
    e = find(&l, "to-abs-dir");
    assert_int_equal(e->type, SS_FT_LNK);
    assert_string_equal(e->link, "/etc");
    e = find(&l, "dangling");
    assert_int_equal(e->type, SS_FT_LNK);
    assert_string_equal(e->link, "no/such/thing");
    e = find(&l, "loop");
    assert_int_equal(e->type, SS_FT_LNK);
    /* Nothing listed beneath the links. */
    for (size_t i = 0; i < l.n; i++) {
        assert_true(strncmp(l.v[i].path, "to-dir/", 7) != 0);
        assert_true(strncmp(l.v[i].path, "to-abs-dir/", 11) != 0);
    }
    assert_int_equal(l.n, 6);
    ss_entry_list_free(&l);
}

static void test_walk_long_link_target(void **state)
{
    (void)state;
    char t[3000];
    memset(t, 'q', sizeof t - 1);
    t[sizeof t - 1] = 0;
    lnk("long", t);
    ss_entry_list l;
    ss_err err = { 0 };
    assert_int_equal(ss_walk(root, NULL, &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].link, t);
    ss_entry_list_free(&l);
}

typedef struct {
    int n;
    char path[256];
    char why[256];
} skip_log;

static void on_skip(void *ctx, const char *path, const char *why)
{
    skip_log *s = ctx;
    s->n++;
    snprintf(s->path, sizeof s->path, "%s", path);
    snprintf(s->why, sizeof s->why, "%s", why);
}

static void test_walk_special_files(void **state)
{
    (void)state;
    put("regular", 5, 0644);
    dir("sub", 0755);
    char p[512];
    snprintf(p, sizeof p, "%s/sub/fifo", root);
    assert_int_equal(mkfifo(p, 0644), 0);

    skip_log s = { 0 };
    ss_walk_opts o = { 0 };
    o.skipped = on_skip;
    o.ctx = &s;
    ss_entry_list l;
    ss_err err = { 0 };
    assert_int_equal(ss_walk(root, &o, &l, &err), 0);
    assert_int_equal(l.n, 2);            /* regular, sub */
    assert_null(find(&l, "sub/fifo"));
    assert_int_equal(s.n, 1);
    assert_string_equal(s.path, "sub/fifo");
    assert_true(strlen(s.why) > 0);
    ss_entry_list_free(&l);

    /* Without a callback: skipped silently, no crash. */
    assert_int_equal(ss_walk(root, NULL, &l, &err), 0);
    assert_int_equal(l.n, 2);
    ss_entry_list_free(&l);

    /* keep_other: listed as SS_FT_OTHER (a target wants to remove it). */
    s.n = 0;
    o.keep_other = 1;
    assert_int_equal(ss_walk(root, &o, &l, &err), 0);
    assert_int_equal(l.n, 3);
    const ss_entry *e = find(&l, "sub/fifo");
    assert_non_null(e);
    assert_int_equal(e->type, SS_FT_OTHER);
    assert_int_equal(s.n, 0);
    ss_entry_list_free(&l);
}

static int filter_out_skipme(void *ctx, const char *path, const struct stat *st)
{
    (*(int *)ctx)++;
    (void)st;
    return strcmp(path, "skipme") != 0;
}

static void test_walk_filter(void **state)
{
    (void)state;
    dir("skipme", 0755);
    put("skipme/hidden", 5, 0644);
    put("keep", 5, 0644);
    int calls = 0;
    ss_walk_opts o = { 0 };
    o.filter = filter_out_skipme;
    o.ctx = &calls;
    ss_entry_list l;
    ss_err err = { 0 };
    assert_int_equal(ss_walk(root, &o, &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].path, "keep");
    assert_int_equal(calls, 2);          /* contents of a filtered dir never visited */
    ss_entry_list_free(&l);
}

static void test_walk_errors(void **state)
{
    (void)state;
    ss_entry_list l;
    ss_err err = { 0 };
    char p[512];
    snprintf(p, sizeof p, "%s/does-not-exist", root);
    assert_int_equal(ss_walk(p, NULL, &l, &err), -1);
    assert_int_equal(err.kind, SS_ESOURCE);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_non_null(strstr(err.msg, "does-not-exist"));
    /* A file as root. */
    put("file", 1, 0644);
    snprintf(p, sizeof p, "%s/file", root);
    memset(&err, 0, sizeof err);
    assert_int_equal(ss_walk(p, NULL, &l, &err), -1);
    assert_int_equal(err.sys_errno, ENOTDIR);
    /* A symlink to a directory as root is opened (the root is the user's). */
    dir("real", 0755);
    put("real/x", 1, 0644);
    lnk("rootlink", "real");
    snprintf(p, sizeof p, "%s/rootlink", root);
    assert_int_equal(ss_walk(p, NULL, &l, &err), 0);
    assert_int_equal(l.n, 1);
    ss_entry_list_free(&l);
}

static void test_walk_unreadable_dir(void **state)
{
    (void)state;
    if (geteuid() == 0)
        skip();
    dir("closed", 0000);
    ss_entry_list l;
    ss_err err = { 0 };
    assert_int_equal(ss_walk(root, NULL, &l, &err), -1);
    assert_int_equal(err.kind, SS_ESOURCE);
    assert_non_null(strstr(err.msg, "closed"));
}

static void test_walk_empty(void **state)
{
    (void)state;
    ss_entry_list l;
    ss_err err = { 0 };
    assert_int_equal(ss_walk(root, NULL, &l, &err), 0);
    assert_int_equal(l.n, 0);
    ss_entry_list_free(&l);
}

static void test_walk_fd(void **state)
{
    (void)state;
    put("x", 3, 0644);
    int fd = open(root, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    ss_entry_list l;
    ss_err err = { 0 };
    assert_int_equal(ss_walk_fd(fd, "R", NULL, &l, &err), 0);
    assert_int_equal(l.n, 1);
    /* fd is not closed by ss_walk_fd, still usable */
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    ss_entry_list_free(&l);
    /* A second walk of the same descriptor lists the same entries (the
     * directory offset shared through dup() must not make it empty). */
    assert_int_equal(ss_walk_fd(fd, "R", NULL, &l, &err), 0);
    assert_int_equal(l.n, 1);
    ss_entry_list_free(&l);
    close(fd);
}

static void test_ftype(void **state)
{
    (void)state;
    assert_int_equal(ss_ftype_of(S_IFREG | 0644), SS_FT_REG);
    assert_int_equal(ss_ftype_of(S_IFDIR | 0755), SS_FT_DIR);
    assert_int_equal(ss_ftype_of(S_IFLNK | 0777), SS_FT_LNK);
    assert_int_equal(ss_ftype_of(S_IFIFO | 0644), SS_FT_OTHER);
    assert_int_equal(ss_ftype_of(S_IFSOCK | 0644), SS_FT_OTHER);
    assert_int_equal(ss_ftype_of(S_IFCHR | 0644), SS_FT_OTHER);
    assert_int_equal(ss_ftype_of(S_IFBLK | 0644), SS_FT_OTHER);
    const char *names[] = { ss_ftype_name(SS_FT_REG), ss_ftype_name(SS_FT_DIR),
                            ss_ftype_name(SS_FT_LNK), ss_ftype_name(SS_FT_OTHER) };
    for (int i = 0; i < 4; i++) {
        assert_non_null(names[i]);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(names[i], names[j]);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_cmp_order),
        cmocka_unit_test(test_sort_list),
        cmocka_unit_test(test_push_copies_strings),
        cmocka_unit_test(test_ftype),
        T(test_walk_order_and_fields),
        T(test_walk_symlinks_not_followed),
        T(test_walk_long_link_target),
        T(test_walk_special_files),
        T(test_walk_filter),
        T(test_walk_errors),
        T(test_walk_unreadable_dir),
        T(test_walk_empty),
        T(test_walk_fd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
