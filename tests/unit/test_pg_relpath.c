/* Relation file paths: what parses, what does not, and format(parse(s)) == s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/pg/relpath.h"

static void round_trip(const char *path)
{
    ss_pg_relfile r;
    char verdir[64], back[512];
    if (ss_pg_relpath_parse(path, &r, verdir, sizeof verdir) != 1)
        fail_msg("%s should parse", path);
    int n = ss_pg_relpath_format(&r, verdir, back, sizeof back);
    assert_int_equal(n, (int)strlen(path));
    assert_string_equal(back, path);
}

static void parses_fields(void **state)
{
    (void)state;
    ss_pg_relfile r;
    char v[64];

    assert_int_equal(ss_pg_relpath_parse("base/16384/16385", &r, v, sizeof v), 1);
    assert_int_equal(r.spcoid, SS_PG_DEFAULTTABLESPACE_OID);
    assert_int_equal(r.dboid, 16384);
    assert_int_equal(r.relfilenode, 16385);
    assert_int_equal(r.fork, SS_PG_FORK_MAIN);
    assert_int_equal(r.segno, 0);
    assert_int_equal(r.is_temp, 0);
    assert_string_equal(v, "");

    assert_int_equal(ss_pg_relpath_parse("base/1/2619_fsm.3", &r, NULL, 0), 1);
    assert_int_equal(r.dboid, 1);
    assert_int_equal(r.relfilenode, 2619);
    assert_int_equal(r.fork, SS_PG_FORK_FSM);
    assert_int_equal(r.segno, 3);

    assert_int_equal(ss_pg_relpath_parse("global/1262_vm", &r, v, sizeof v), 1);
    assert_int_equal(r.spcoid, SS_PG_GLOBALTABLESPACE_OID);
    assert_int_equal(r.dboid, 0);
    assert_int_equal(r.fork, SS_PG_FORK_VM);

    assert_int_equal(ss_pg_relpath_parse("base/5/16390_init", &r, v, sizeof v), 1);
    assert_int_equal(r.fork, SS_PG_FORK_INIT);

    assert_int_equal(
        ss_pg_relpath_parse("pg_tblspc/16400/PG_15_202209061/16384/16401.12", &r, v, sizeof v), 1);
    assert_int_equal(r.spcoid, 16400);
    assert_int_equal(r.dboid, 16384);
    assert_int_equal(r.relfilenode, 16401);
    assert_int_equal(r.segno, 12);
    assert_string_equal(v, "PG_15_202209061");

    assert_int_equal(
        ss_pg_relpath_parse("pg_tblspc/16400/GPDB_7_302307241/16384/t3_16402_fsm.1", &r, v, sizeof v),
        1);
    assert_string_equal(v, "GPDB_7_302307241");
    assert_int_equal(r.is_temp, 1);
    assert_int_equal(r.backend, 3);
    assert_int_equal(r.relfilenode, 16402);
    assert_int_equal(r.fork, SS_PG_FORK_FSM);
    assert_int_equal(r.segno, 1);

    /* ProcNumber 0 exists in PostgreSQL 17. */
    assert_int_equal(ss_pg_relpath_parse("base/5/t0_77", &r, NULL, 0), 1);
    assert_int_equal(r.backend, 0);
    assert_int_equal(r.is_temp, 1);

    /* Largest OID. */
    assert_int_equal(ss_pg_relpath_parse("base/4294967295/4294967295", &r, NULL, 0), 1);
    assert_true(r.relfilenode == 4294967295u);
}

static void refuses_non_relations(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "base", "base/", "base/16384", "base/16384/", "global", "global/pg_control",
        "global/pg_filenode.map", "global/1262/x", "base/16384/PG_VERSION",
        "base/16384/pg_filenode.map", "base/16384/pg_internal.init",
        "base/pgsql_tmp/pgsql_tmp123.0", "base/0/123", "base/016384/123",
        "base/16384/0", "base/16384/0123", "base/16384/123.0", "base/16384/123.01",
        "base/16384/123.", "base/16384/123_", "base/16384/123_main", "base/16384/123_fsmx",
        "base/16384/123_fsm_vm", "base/16384/123.1.2", "base/16384/123.1_fsm",
        "base/4294967296/1", "base/1/4294967296", "base/1/99999999999",
        "base/1/t_123", "base/1/t1123", "base/1/tx_1", "base/1/t01_2",
        "global/t3_1262", "pg_tblspc/16400/16384/16401",
        "pg_tblspc/16400/PG_15/16384/16401", "pg_tblspc/16400/PG__1/16384/16401",
        "pg_tblspc/16400/XX_15_202209061/16384/16401",
        "pg_tblspc/16400/PG_15_202209061/16401", "pg_tblspc/x/PG_15_2/1/2",
        "pg_tblspc/16400", "pg_wal/000000010000000000000001", "pg_xact/0000",
        "base/1/2/3", "./base/1/2", "/base/1/2", "base//1/2", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ss_pg_relfile r;
        char v[64];
        if (ss_pg_relpath_parse(bad[i], &r, v, sizeof v) != 0)
            fail_msg("\"%s\" must not parse", bad[i]);
    }
    /* A version directory too long for the caller's buffer does not match. */
    ss_pg_relfile r;
    char tiny[8];
    assert_int_equal(
        ss_pg_relpath_parse("pg_tblspc/16400/PG_15_202209061/16384/16401", &r, tiny, sizeof tiny), 0);
}

static void round_trips(void **state)
{
    (void)state;
    static const char *const good[] = {
        "base/1/1259", "base/1/1259.1", "base/1/1259_fsm", "base/1/1259_vm.7",
        "base/13010/16385_init", "base/13010/16385_init.2", "global/1262", "global/1262_fsm",
        "global/2676.4", "base/16384/t12_16390", "base/16384/t12_16390_vm.1",
        "pg_tblspc/16400/PG_15_202209061/16384/16401",
        "pg_tblspc/16400/PG_9.6_201608131/16384/16401_init",
        "pg_tblspc/1/GPDB_6_301908232/5/t7_9.255",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        round_trip(good[i]);
}

static void formats_and_refuses(void **state)
{
    (void)state;
    char buf[128];
    ss_pg_relfile r = { .spcoid = 16400, .dboid = 5, .relfilenode = 9, .fork = SS_PG_FORK_VM,
                        .segno = 2 };
    assert_int_equal(ss_pg_relpath_format(&r, "PG_16_202307071", buf, sizeof buf),
                     (int)strlen("pg_tblspc/16400/PG_16_202307071/5/9_vm.2"));
    assert_string_equal(buf, "pg_tblspc/16400/PG_16_202307071/5/9_vm.2");
    /* tablespace without a valid version directory */
    assert_int_equal(ss_pg_relpath_format(&r, NULL, buf, sizeof buf), -1);
    assert_int_equal(ss_pg_relpath_format(&r, "15_2022", buf, sizeof buf), -1);
    /* buffer too small */
    assert_int_equal(ss_pg_relpath_format(&r, "PG_16_202307071", buf, 10), -1);
    /* temp in global, dboid 0 outside global, global with a dboid */
    ss_pg_relfile g = { .spcoid = SS_PG_GLOBALTABLESPACE_OID, .relfilenode = 1262, .is_temp = 1 };
    assert_int_equal(ss_pg_relpath_format(&g, NULL, buf, sizeof buf), -1);
    g.is_temp = 0;
    g.dboid = 1;
    assert_int_equal(ss_pg_relpath_format(&g, NULL, buf, sizeof buf), -1);
    ss_pg_relfile b = { .spcoid = SS_PG_DEFAULTTABLESPACE_OID, .relfilenode = 1 };
    assert_int_equal(ss_pg_relpath_format(&b, NULL, buf, sizeof buf), -1);
    b.dboid = 1;
    b.relfilenode = 0;
    assert_int_equal(ss_pg_relpath_format(&b, NULL, buf, sizeof buf), -1);
}

static void dbdirs_and_verdirs(void **state)
{
    (void)state;
    uint32_t spc = 0, db = 0;
    assert_int_equal(ss_pg_dbdir_parse("base/16384", &spc, &db), 1);
    assert_int_equal(spc, 1663);
    assert_int_equal(db, 16384);
    assert_int_equal(ss_pg_dbdir_parse("pg_tblspc/16400/PG_15_202209061/16384", &spc, &db), 1);
    assert_int_equal(spc, 16400);
    assert_int_equal(ss_pg_dbdir_parse("base", NULL, NULL), 0);
    assert_int_equal(ss_pg_dbdir_parse("base/pgsql_tmp", NULL, NULL), 0);
    assert_int_equal(ss_pg_dbdir_parse("base/16384/", NULL, NULL), 0);
    assert_int_equal(ss_pg_dbdir_parse("global", NULL, NULL), 0);
    assert_int_equal(ss_pg_dbdir_parse("pg_tblspc/16400/PG_15_202209061", NULL, NULL), 0);

    assert_int_equal(ss_pg_tblspc_verdir_ok("PG_15_202209061"), 1);
    assert_int_equal(ss_pg_tblspc_verdir_ok("PG_9.6_201608131"), 1);
    assert_int_equal(ss_pg_tblspc_verdir_ok("GPDB_7_302307241"), 1);
    assert_int_equal(ss_pg_tblspc_verdir_ok("PG_15_"), 0);
    assert_int_equal(ss_pg_tblspc_verdir_ok("PG__2022"), 0);
    assert_int_equal(ss_pg_tblspc_verdir_ok("PG_15_2022x"), 0);
    assert_int_equal(ss_pg_tblspc_verdir_ok("pg_15_2022"), 0);

    assert_string_equal(ss_pg_fork_suffix(SS_PG_FORK_MAIN), "");
    assert_string_equal(ss_pg_fork_suffix(SS_PG_FORK_INIT), "_init");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_fields),
        cmocka_unit_test(refuses_non_relations),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(formats_and_refuses),
        cmocka_unit_test(dbdirs_and_verdirs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
