/*
 * test_plan.c — engine/plan: every decision of ss_plan_decide, as a pure
 * function of the source entry, the target entry and the options.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "engine/plan.h"

static const ss_plan_opts DIFF = { .full = 0 };
static const ss_plan_opts DIFF_RAW_ROOT = { .full = 0, .owner = 1, .mtime = 1 };
static const ss_plan_opts DIFF_RAW = { .full = 0, .owner = 0, .mtime = 1 };
static const ss_plan_opts FULL = { .full = 1, .owner = 1, .mtime = 1 };

static ss_entry mk(ss_ftype t, const char *link)
{
    ss_entry e;
    memset(&e, 0, sizeof e);
    e.path = (char *)"p";
    e.link = (char *)link;
    e.type = t;
    e.size = t == SS_FT_REG ? 100 : 0;
    e.mode = t == SS_FT_DIR ? 0755 : t == SS_FT_LNK ? 0777 : 0644;
    e.nlink = 1;
    e.uid = 1000;
    e.gid = 1000;
    e.mtime_sec = 1600000000;
    e.mtime_nsec = 123456789;
    return e;
}

#define EXPECT(it, a, rf) do { \
        assert_int_equal((it).act, (a)); \
        assert_int_equal(!!(it).remove_first, (rf)); \
    } while (0)

static void test_nothing(void **state)
{
    (void)state;
    ss_plan_item it = ss_plan_decide(NULL, NULL, &DIFF);
    EXPECT(it, SS_ACT_NONE, 0);
}

static void test_extra_in_target_deleted(void **state)
{
    (void)state;
    ss_ftype types[] = { SS_FT_REG, SS_FT_DIR, SS_FT_LNK, SS_FT_OTHER };
    for (int i = 0; i < 4; i++) {
        ss_entry d = mk(types[i], types[i] == SS_FT_LNK ? "t" : NULL);
        ss_plan_item it = ss_plan_decide(NULL, &d, &DIFF_RAW_ROOT);
        assert_int_equal(it.act, SS_ACT_DELETE);
        assert_ptr_equal(it.dst, &d);
        assert_null(it.src);
        it = ss_plan_decide(NULL, &d, &FULL);
        assert_int_equal(it.act, SS_ACT_DELETE);
    }
}

static void test_new_entries(void **state)
{
    (void)state;
    ss_entry f = mk(SS_FT_REG, NULL), d = mk(SS_FT_DIR, NULL), l = mk(SS_FT_LNK, "x");
    ss_plan_item it = ss_plan_decide(&f, NULL, &DIFF_RAW);
    EXPECT(it, SS_ACT_COPY, 0);
    assert_ptr_equal(it.src, &f);
    assert_null(it.dst);
    it = ss_plan_decide(&d, NULL, &DIFF_RAW);
    EXPECT(it, SS_ACT_MKDIR, 0);
    it = ss_plan_decide(&l, NULL, &DIFF_RAW);
    EXPECT(it, SS_ACT_SYMLINK, 0);
    it = ss_plan_decide(&f, NULL, &FULL);
    EXPECT(it, SS_ACT_COPY, 0);
}

static void test_type_changes(void **state)
{
    (void)state;
    ss_entry f = mk(SS_FT_REG, NULL), d = mk(SS_FT_DIR, NULL), l = mk(SS_FT_LNK, "x"),
             o = mk(SS_FT_OTHER, NULL);
    const ss_plan_opts *opts[] = { &DIFF, &DIFF_RAW, &DIFF_RAW_ROOT, &FULL };
    for (int k = 0; k < 4; k++) {
        const ss_plan_opts *op = opts[k];
        /* to a regular file */
        EXPECT(ss_plan_decide(&f, &d, op), SS_ACT_COPY, 1);
        EXPECT(ss_plan_decide(&f, &l, op), SS_ACT_COPY, 1);
        EXPECT(ss_plan_decide(&f, &o, op), SS_ACT_COPY, 1);
        /* to a directory */
        EXPECT(ss_plan_decide(&d, &f, op), SS_ACT_MKDIR, 1);
        EXPECT(ss_plan_decide(&d, &l, op), SS_ACT_MKDIR, 1);
        EXPECT(ss_plan_decide(&d, &o, op), SS_ACT_MKDIR, 1);
        /* to a symlink */
        EXPECT(ss_plan_decide(&l, &f, op), SS_ACT_SYMLINK, 1);
        EXPECT(ss_plan_decide(&l, &d, op), SS_ACT_SYMLINK, 1);
        EXPECT(ss_plan_decide(&l, &o, op), SS_ACT_SYMLINK, 1);
    }
}

static void test_symlink_same_and_retarget(void **state)
{
    (void)state;
    ss_entry s = mk(SS_FT_LNK, "target/a"), d = mk(SS_FT_LNK, "target/a");
    EXPECT(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT), SS_ACT_NONE, 0);
    EXPECT(ss_plan_decide(&s, &d, &FULL), SS_ACT_NONE, 0);
    /* retarget: replaced */
    d.link = (char *)"target/b";
    EXPECT(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT), SS_ACT_SYMLINK, 1);
    d.link = (char *)"target/a/";     /* differs by a byte */
    EXPECT(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT), SS_ACT_SYMLINK, 1);
    d.link = (char *)"target/";       /* a prefix */
    EXPECT(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT), SS_ACT_SYMLINK, 1);
    /* a symlink's mode never matters (Linux has none to set) */
    d = mk(SS_FT_LNK, "target/a");
    d.mode = 0755;
    EXPECT(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT), SS_ACT_NONE, 0);
    /* its own mtime does when times are kept, as rsync -a keeps it */
    d.mtime_sec = s.mtime_sec + 1;
    ss_plan_item lt = ss_plan_decide(&s, &d, &DIFF_RAW_ROOT);
    assert_int_equal(lt.act, SS_ACT_META);
    assert_int_equal(lt.meta, SS_META_MTIME);
    d.mtime_sec = s.mtime_sec;
    d.mtime_nsec = s.mtime_nsec + 1;
    assert_int_equal(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT).meta, SS_META_MTIME);
    /* its owner does, when owners matter */
    d = mk(SS_FT_LNK, "target/a");
    d.uid = 0;
    EXPECT(ss_plan_decide(&s, &d, &DIFF_RAW), SS_ACT_NONE, 0);
    ss_plan_item it = ss_plan_decide(&s, &d, &DIFF_RAW_ROOT);
    assert_int_equal(it.act, SS_ACT_META);
    assert_int_equal(it.meta, SS_META_OWNER);
}

static void test_regular_update_and_meta(void **state)
{
    (void)state;
    ss_entry s = mk(SS_FT_REG, NULL), d = mk(SS_FT_REG, NULL);
    /* Both regular: contents compared block by block, even when equal size
     * and mtime (differential hashes, it does not trust quick checks). */
    ss_plan_item it = ss_plan_decide(&s, &d, &DIFF_RAW_ROOT);
    EXPECT(it, SS_ACT_UPDATE, 0);
    assert_int_equal(it.meta, 0);
    assert_ptr_equal(it.src, &s);
    assert_ptr_equal(it.dst, &d);
    /* size differs: still an update (truncate/extend) */
    d.size = 5;
    EXPECT(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT), SS_ACT_UPDATE, 0);
    d.size = 1 << 20;
    EXPECT(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT), SS_ACT_UPDATE, 0);
    /* mode */
    d = mk(SS_FT_REG, NULL);
    d.mode = 0600;
    it = ss_plan_decide(&s, &d, &DIFF);
    assert_int_equal(it.act, SS_ACT_UPDATE);
    assert_int_equal(it.meta, SS_META_MODE);
    d.mode = 04644;                       /* set-uid bit alone */
    assert_int_equal(ss_plan_decide(&s, &d, &DIFF).meta, SS_META_MODE);
    /* owner: only when owners matter; uid or gid */
    d = mk(SS_FT_REG, NULL);
    d.uid = 0;
    assert_int_equal(ss_plan_decide(&s, &d, &DIFF_RAW).meta, 0);
    assert_int_equal(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT).meta, SS_META_OWNER);
    d = mk(SS_FT_REG, NULL);
    d.gid = 0;
    assert_int_equal(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT).meta, SS_META_OWNER);
    /* mtime: seconds or nanoseconds, only when mtimes matter */
    d = mk(SS_FT_REG, NULL);
    d.mtime_sec++;
    assert_int_equal(ss_plan_decide(&s, &d, &DIFF).meta, 0);
    assert_int_equal(ss_plan_decide(&s, &d, &DIFF_RAW).meta, SS_META_MTIME);
    d = mk(SS_FT_REG, NULL);
    d.mtime_nsec = 0;
    assert_int_equal(ss_plan_decide(&s, &d, &DIFF_RAW).meta, SS_META_MTIME);
    /* all at once */
    d = mk(SS_FT_REG, NULL);
    d.mode = 0400, d.uid = 7, d.mtime_sec = 5;
    it = ss_plan_decide(&s, &d, &DIFF_RAW_ROOT);
    assert_int_equal(it.act, SS_ACT_UPDATE);
    assert_int_equal(it.meta, SS_META_MODE | SS_META_OWNER | SS_META_MTIME);
}

static void test_full_mode_copies_regular_files(void **state)
{
    (void)state;
    ss_entry s = mk(SS_FT_REG, NULL), d = mk(SS_FT_REG, NULL);
    /* identical target file: full still copies, never reads the target */
    ss_plan_item it = ss_plan_decide(&s, &d, &FULL);
    EXPECT(it, SS_ACT_COPY, 0);
    ss_plan_opts full_plain = { .full = 1 };
    EXPECT(ss_plan_decide(&s, &d, &full_plain), SS_ACT_COPY, 0);
    /* directories and symlinks are not re-created when equal */
    ss_entry sd = mk(SS_FT_DIR, NULL), dd = mk(SS_FT_DIR, NULL);
    EXPECT(ss_plan_decide(&sd, &dd, &FULL), SS_ACT_NONE, 0);
    dd.mode = 0700;
    it = ss_plan_decide(&sd, &dd, &FULL);
    assert_int_equal(it.act, SS_ACT_META);
    assert_int_equal(it.meta, SS_META_MODE);
}

static void test_hardlinked_target_replaced(void **state)
{
    (void)state;
    ss_entry s = mk(SS_FT_REG, NULL), d = mk(SS_FT_REG, NULL);
    d.nlink = 1;
    EXPECT(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT), SS_ACT_UPDATE, 0);
    /* other names share the target file: never written in place */
    d.nlink = 2;
    EXPECT(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT), SS_ACT_COPY, 0);
    EXPECT(ss_plan_decide(&s, &d, &FULL), SS_ACT_COPY, 0);
    /* verify only compares: contents still compared block by block */
    ss_plan_opts verify = DIFF_RAW_ROOT;
    verify.compare_only = 1;
    EXPECT(ss_plan_decide(&s, &d, &verify), SS_ACT_UPDATE, 0);
    /* the source's link count does not matter */
    s.nlink = 3;
    d.nlink = 1;
    EXPECT(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT), SS_ACT_UPDATE, 0);
}

static void test_directory_meta(void **state)
{
    (void)state;
    ss_entry s = mk(SS_FT_DIR, NULL), d = mk(SS_FT_DIR, NULL);
    EXPECT(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT), SS_ACT_NONE, 0);
    d.mode = 0555;
    ss_plan_item it = ss_plan_decide(&s, &d, &DIFF_RAW_ROOT);
    EXPECT(it, SS_ACT_META, 0);
    assert_int_equal(it.meta, SS_META_MODE);
    d = mk(SS_FT_DIR, NULL);
    d.gid = 5;
    it = ss_plan_decide(&s, &d, &DIFF_RAW_ROOT);
    assert_int_equal(it.act, SS_ACT_META);
    assert_int_equal(it.meta, SS_META_OWNER);
    assert_int_equal(ss_plan_decide(&s, &d, &DIFF_RAW).act, SS_ACT_NONE);
}

static void test_source_special_ignored(void **state)
{
    (void)state;
    ss_entry s = mk(SS_FT_OTHER, NULL), d = mk(SS_FT_REG, NULL);
    assert_int_equal(ss_plan_decide(&s, NULL, &DIFF_RAW_ROOT).act, SS_ACT_NONE);
    assert_int_equal(ss_plan_decide(&s, &d, &DIFF_RAW_ROOT).act, SS_ACT_NONE);
}

static void test_act_names(void **state)
{
    (void)state;
    ss_act acts[] = { SS_ACT_NONE, SS_ACT_MKDIR, SS_ACT_SYMLINK, SS_ACT_COPY,
                      SS_ACT_UPDATE, SS_ACT_DELETE, SS_ACT_META };
    size_t n = sizeof acts / sizeof acts[0];
    for (size_t i = 0; i < n; i++) {
        const char *a = ss_act_name(acts[i]);
        assert_non_null(a);
        assert_string_not_equal(a, "?");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(a, ss_act_name(acts[j]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing),
        cmocka_unit_test(test_extra_in_target_deleted),
        cmocka_unit_test(test_new_entries),
        cmocka_unit_test(test_type_changes),
        cmocka_unit_test(test_symlink_same_and_retarget),
        cmocka_unit_test(test_regular_update_and_meta),
        cmocka_unit_test(test_full_mode_copies_regular_files),
        cmocka_unit_test(test_hardlinked_target_replaced),
        cmocka_unit_test(test_directory_meta),
        cmocka_unit_test(test_source_special_ignored),
        cmocka_unit_test(test_act_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
