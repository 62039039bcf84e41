/* Exclusion rules: each rule on its own, the walk filter on a real tree,
 * and the unlogged-relation pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/pg/exclude.h"

static void expect(const ss_pg_exclude_opts *o, const char *path, int is_dir, int included)
{
    const char *why = ss_pg_exclude_reason(o, path, is_dir);
    if (included && why)
        fail_msg("\"%s\" should be included, excluded as: %s", path, why);
    if (!included && !why)
        fail_msg("\"%s\" should be excluded", path);
}

static void postgres_rules(void **state)
{
    (void)state;
    ss_pg_exclude_opts o = { 0 };
    static const char *const contents_dirs[] = { "pg_stat_tmp", "pg_replslot", "pg_dynshmem",
                                                 "pg_notify", "pg_serial", "pg_snapshots",
                                                 "pg_subtrans" };
    for (size_t i = 0; i < 7; i++) {
        char child[128];
        snprintf(child, sizeof child, "%s/somefile", contents_dirs[i]);
        expect(&o, contents_dirs[i], 1, 1);     /* the directory stays */
        expect(&o, child, 0, 0);                /* its contents go */
        snprintf(child, sizeof child, "%s/sub/deeper", contents_dirs[i]);
        expect(&o, child, 0, 0);
    }
    /* Named files, at the top and deeper. */
    static const char *const gone[] = {
        "postmaster.pid", "postmaster.opts", "postgresql.auto.conf.tmp", "current_logfiles.tmp",
        "backup_label", "backup_label.old", "tablespace_map", "tablespace_map.old",
        "backup_manifest", "global/pg_internal.init", "base/1/pg_internal.init",
        "base/1/pg_internal.init.12345", "base/pgsql_tmp", "base/pgsql_tmp/pgsql_tmp123.4",
        "pg_tblspc/16400/PG_15_202209061/pgsql_tmp/pgsql_tmp9.0", "pgsql_tmp17",
        "base/16384/t3_16390", "base/16384/t3_16390_fsm", "base/16384/t3_16390.1",
        "pg_tblspc/16400/PG_15_202209061/16384/t0_5", "internal.auto.conf", "gp.conf.tmp",
    };
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        expect(&o, gone[i], 0, 0);

    static const char *const kept[] = {
        "PG_VERSION", "postgresql.conf", "postgresql.auto.conf", "pg_hba.conf", "current_logfiles",
        "global/pg_control", "global/pg_filenode.map", "global/1262", "base/1/1259",
        "base/16384/16385_init", "base/16384/16385", "pg_xact/0000", "pg_multixact/offsets/0000",
        "pg_logical/replorigin_checkpoint", "pg_wal/000000010000000000000001",
        "pg_wal/archive_status/000000010000000000000001.done", "pg_wal/00000002.history",
        "log/postgresql.log", "backups/x", "db_dumps", "promote", "standby.signal",
        "pg_stat/pgstat.stat", "base/16384/pg_stat_tmp/x",  /* top level only */
        "pg_tblspc/16400", "postmaster.pid.keep", "xpostmaster.pid", "pg_xact/t1_2",
        "global/t1_2", "internal.auto.conf.d/x", "sub/internal.auto.conf",
    };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        expect(&o, kept[i], 0, 1);
    /* Directories named like excluded files are judged by name too, as in
     * basebackup.c; a directory named *.conf.tmp is not a config file. */
    expect(&o, "x.conf.tmp", 1, 1);
    expect(NULL, "postmaster.pid", 0, 0);
}

static void wal_option(void **state)
{
    (void)state;
    ss_pg_exclude_opts o = { .skip_wal = 1 };
    expect(&o, "pg_wal", 1, 1);
    expect(&o, "pg_wal/archive_status", 1, 1);
    expect(&o, "pg_wal/archive_status", 0, 0);      /* a file by that name: no */
    expect(&o, "pg_wal/archive_status/000000010000000000000001.ready", 0, 0);
    expect(&o, "pg_wal/000000010000000000000001", 0, 0);
    expect(&o, "pg_wal/00000002.history", 0, 0);
    expect(&o, "pg_wal/summaries", 1, 0);
    expect(&o, "pg_walx/file", 0, 1);
    expect(&o, "pg_xact/0000", 0, 1);
}

static void greenplum_option(void **state)
{
    (void)state;
    ss_pg_exclude_opts o = { .greenplum = 1 };
    expect(&o, "log", 1, 1);
    expect(&o, "log/gpdb-2024-01-01.csv", 0, 0);
    expect(&o, "backups", 1, 1);
    expect(&o, "backups/2024/x", 0, 0);
    expect(&o, "db_dumps", 1, 0);
    expect(&o, "db_dumps/x", 0, 0);
    expect(&o, "promote", 0, 0);
    expect(&o, "internal.auto.conf", 0, 0);
    expect(&o, "base/1/log", 0, 1);
    expect(&o, "pg_log/x", 0, 1);
    expect(&o, "promote2", 0, 1);

    assert_int_equal(ss_pg_protected_on_target("internal.auto.conf"), 1);
    assert_int_equal(ss_pg_protected_on_target("postgresql.auto.conf"), 0);
    assert_int_equal(ss_pg_protected_on_target("base/internal.auto.conf"), 0);
}

/* ---- the walk filter on a real tree ---- */

typedef struct {
    char paths[64][128];
    int n;
} seen;

static void note(void *ctx, const char *path, const char *why)
{
    seen *s = ctx;
    assert_non_null(why);
    if (s->n < 64)
        snprintf(s->paths[s->n++], sizeof s->paths[0], "%s", path);
}

static int was_seen(const seen *s, const char *p)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->paths[i], p))
            return 1;
    return 0;
}

static void mk(const char *root, const char *rel, int dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    if (dir) {
        assert_int_equal(mkdir(p, 0700), 0);
    } else {
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "x", 1), 1);
        close(fd);
    }
}

static int listed(const ss_entry_list *l, const char *p)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].path, p))
            return 1;
    return 0;
}

static void filter_with_walk(void **state)
{
    (void)state;
    char root[] = "/tmp/test_pg_exclude.XXXXXX";
    assert_non_null(mkdtemp(root));
    static const char *const dirs[] = { "base", "base/1", "base/pgsql_tmp", "global", "pg_wal",
                                        "pg_wal/archive_status", "pg_stat_tmp", "pg_replslot",
                                        "pg_replslot/slot1", "log" };
    static const char *const filesv[] = {
        "PG_VERSION", "postmaster.pid", "global/pg_control", "global/1262",
        "base/1/1259", "base/1/t2_500", "base/1/600", "base/1/600_fsm", "base/1/600_init",
        "base/1/6000", "base/pgsql_tmp/pgsql_tmp1.0", "pg_wal/000000010000000000000001",
        "pg_wal/archive_status/000000010000000000000001.done", "pg_stat_tmp/db_1.stat",
        "pg_replslot/slot1/state", "log/server.log", "internal.auto.conf",
    };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        mk(root, dirs[i], 1);
    for (size_t i = 0; i < sizeof filesv / sizeof filesv[0]; i++)
        mk(root, filesv[i], 0);

    seen s = { .n = 0 };
    ss_pg_exclude_opts o = { .skip_wal = 1, .greenplum = 1, .skipped = note, .skipped_ctx = &s };
    ss_walk_opts wo = { .filter = ss_pg_exclude_filter, .ctx = &o };
    ss_entry_list l = { 0 };
    ss_err err = { 0 };
    assert_int_equal(ss_walk(root, &wo, &l, &err), 0);

    static const char *const want[] = { "PG_VERSION", "base", "base/1", "base/1/1259",
                                        "base/1/600", "base/1/600_fsm", "base/1/600_init",
                                        "base/1/6000", "global", "global/pg_control",
                                        "global/1262", "pg_wal", "pg_wal/archive_status",
                                        "pg_stat_tmp", "pg_replslot", "log" };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!listed(&l, want[i]))
            fail_msg("%s missing from the listing", want[i]);
    static const char *const unwanted[] = {
        "postmaster.pid", "base/1/t2_500", "base/pgsql_tmp", "pg_wal/000000010000000000000001",
        "pg_wal/archive_status/000000010000000000000001.done", "pg_stat_tmp/db_1.stat",
        "pg_replslot/slot1", "log/server.log", "internal.auto.conf",
    };
    for (size_t i = 0; i < sizeof unwanted / sizeof unwanted[0]; i++) {
        if (listed(&l, unwanted[i]))
            fail_msg("%s should have been left out", unwanted[i]);
        if (!was_seen(&s, unwanted[i]))
            fail_msg("%s left out without being reported", unwanted[i]);
    }
    /* Never descended into an excluded directory. */
    assert_false(was_seen(&s, "pg_replslot/slot1/state"));
    assert_false(was_seen(&s, "base/pgsql_tmp/pgsql_tmp1.0"));

    /* Second pass: the unlogged relation 600 keeps only its init fork. */
    s.n = 0;
    assert_int_equal(ss_pg_drop_unlogged(&l, &o, &err), 2);
    assert_false(listed(&l, "base/1/600"));
    assert_false(listed(&l, "base/1/600_fsm"));
    assert_true(listed(&l, "base/1/600_init"));
    assert_true(listed(&l, "base/1/6000"));
    assert_true(was_seen(&s, "base/1/600"));
    for (size_t i = 1; i < l.n; i++)
        assert_true(ss_path_cmp(l.v[i - 1].path, l.v[i].path) < 0);   /* still sorted */

    ss_entry_list_free(&l);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* ---- the unlogged pass on a constructed listing ---- */

static void push(ss_entry_list *l, const char *path)
{
    ss_entry e = { .path = (char *)path, .type = SS_FT_REG };
    ss_err err;
    assert_int_equal(ss_entry_list_push(l, &e, &err), 0);
}

static void drop_unlogged_rules(void **state)
{
    (void)state;
    ss_entry_list l = { 0 };
    static const char *const all[] = {
        "base/1/100", "base/1/100.1", "base/1/100.2", "base/1/100_fsm", "base/1/100_vm",
        "base/1/100_vm.1", "base/1/100_init", "base/1/100_init.1", "base/1/1000", "base/1/101",
        "base/1/10", "base/2/100", "global/300", "global/300_init",
        "pg_tblspc/9/PG_15_202209061/1/200", "pg_tblspc/9/PG_15_202209061/1/200.3",
        "pg_tblspc/9/PG_15_202209061/1/200_init", "pg_tblspc/9/PG_15_202209061/2/200",
        "base/3/400_init", "base/3/t5_400", "other/1/500", "other/1/500_init",
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        push(&l, all[i]);
    ss_entry_list_sort(&l);
    ss_err err = { 0 };
    assert_int_equal(ss_pg_drop_unlogged(&l, NULL, &err), 8);

    static const char *const dropped[] = { "base/1/100", "base/1/100.1", "base/1/100.2",
                                           "base/1/100_fsm", "base/1/100_vm", "base/1/100_vm.1",
                                           "pg_tblspc/9/PG_15_202209061/1/200",
                                           "pg_tblspc/9/PG_15_202209061/1/200.3" };
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
        assert_false(listed(&l, dropped[i]));
    static const char *const kept[] = { "base/1/100_init", "base/1/100_init.1", "base/1/1000",
                                        "base/1/101", "base/1/10", "base/2/100", "global/300",
                                        "global/300_init", "pg_tblspc/9/PG_15_202209061/2/200",
                                        "pg_tblspc/9/PG_15_202209061/1/200_init",
                                        "base/3/400_init", "base/3/t5_400", "other/1/500",
                                        "other/1/500_init" };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        if (!listed(&l, kept[i]))
            fail_msg("%s should be kept", kept[i]);
    ss_entry_list_free(&l);

    /* Nothing to do: unchanged. */
    ss_entry_list m = { 0 };
    push(&m, "base/1/100");
    push(&m, "base/1/100_fsm");
    assert_int_equal(ss_pg_drop_unlogged(&m, NULL, &err), 0);
    assert_int_equal(m.n, 2);
    ss_entry_list_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(postgres_rules),
        cmocka_unit_test(wal_option),
        cmocka_unit_test(greenplum_option),
        cmocka_unit_test(filter_with_walk),
        cmocka_unit_test(drop_unlogged_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
