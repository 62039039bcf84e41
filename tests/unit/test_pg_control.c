/* pg_control: parse good and bad images, rewrite, compare clusters.
 *
 * The images are built here byte by byte at ControlFileData's offsets on
 * x86-64 (12..17 share them); the integration test t_pg_control.sh checks
 * the same parser against files written by a real PostgreSQL. */
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

#include "engine/pg/control.h"
#include "engine/pg/crc32c.h"

#define CRC_OFF 288

static void put32(unsigned char *b, size_t off, uint32_t v) { memcpy(b + off, &v, 4); }
static void put64(unsigned char *b, size_t off, uint64_t v) { memcpy(b + off, &v, 8); }

static void seal(unsigned char *b) { put32(b, CRC_OFF, ss_crc32c(b, CRC_OFF)); }

/* A pg_control image like initdb writes, for the given format version. */
static void image(unsigned char *b, uint32_t version)
{
    memset(b, 0, SS_PG_CONTROL_FILE_SIZE);
    put64(b, 0, 7312345678901234567ull);        /* system_identifier */
    put32(b, 8, version);
    put32(b, 12, 202209061);                     /* catalog_version_no */
    put32(b, 16, 1);                             /* state: shut down */
    put64(b, 24, 1700000000);                    /* time */
    put64(b, 32, 0x0000000101234568ull);         /* checkPoint */
    put64(b, 40, 0x0000000101234500ull);         /* checkPointCopy.redo */
    put32(b, 48, 3);                             /* ThisTimeLineID */
    put32(b, 52, 2);                             /* PrevTimeLineID */
    b[56] = 1;                                   /* fullPageWrites */
    if (version == 1700)
        put32(b, 60, 1);                         /* CheckPoint.wal_level (17) */
    put64(b, 64, 742);                           /* nextXid */
    put64(b, 128, 1000);                         /* unloggedLSN */
    put32(b, 172, 1);                            /* wal_level replica */
    b[176] = 1;                                  /* wal_log_hints */
    put32(b, 180, 100);                          /* MaxConnections */
    put32(b, 204, 8);                            /* maxAlign */
    double ff = 1234567.0;
    memcpy(b + 208, &ff, 8);
    put32(b, 216, 8192);
    put32(b, 220, 131072);
    put32(b, 224, 8192);
    put32(b, 228, 16u << 20);
    put32(b, 232, 64);
    put32(b, 236, 32);
    put32(b, 240, 1996);
    put32(b, 244, 2048);
    b[248] = 1;
    put32(b, 252, 1);                            /* data_checksum_version */
    memset(b + 256, 0x5a, 32);                   /* nonce */
    seal(b);
}

static void parses_each_version(void **state)
{
    (void)state;
    static const uint32_t versions[] = { 1201, 1300, 1700 };
    for (size_t i = 0; i < 3; i++) {
        unsigned char b[SS_PG_CONTROL_FILE_SIZE];
        image(b, versions[i]);
        ss_pg_control c;
        ss_err err = { 0 };
        assert_int_equal(ss_pg_control_parse(b, sizeof b, "t", &c, &err), 0);
        assert_int_equal(c.pg_control_version, versions[i]);
        assert_int_equal(c.catalog_version_no, 202209061);
        assert_true(c.system_identifier == 7312345678901234567ull);
        assert_int_equal(c.state, SS_PG_DB_SHUTDOWNED);
        assert_true(c.checkpoint == 0x0000000101234568ull);
        assert_true(c.checkpoint_redo == 0x0000000101234500ull);
        assert_int_equal(c.checkpoint_tli, 3);
        assert_int_equal(c.checkpoint_prev_tli, 2);
        assert_int_equal(c.full_page_writes, 1);
        assert_int_equal(c.wal_level, 1);
        assert_int_equal(c.wal_log_hints, 1);
        assert_int_equal(c.max_connections, 100);
        assert_int_equal(c.blcksz, 8192);
        assert_int_equal(c.relseg_size, 131072);
        assert_int_equal(c.xlog_blcksz, 8192);
        assert_int_equal(c.xlog_seg_size, 16u << 20);
        assert_int_equal(c.data_checksum_version, 1);
        assert_int_equal(c.min_recovery_point, 0);
        assert_int_equal(c.backup_end_required, 0);
        assert_memory_equal(c.raw, b, sizeof b);
        assert_non_null(ss_pg_control_version_name(versions[i]));
    }
    assert_string_equal(ss_pg_control_version_name(1300), "13-16");
    assert_null(ss_pg_control_version_name(1100));
}

static void expect_fail(const unsigned char *b, size_t len, const char *needle)
{
    ss_pg_control c;
    ss_err err = { 0 };
    assert_int_equal(ss_pg_control_parse(b, len, "src/global/pg_control", &c, &err), -1);
    assert_int_equal(err.kind, SS_ECLUSTER);
    if (!strstr(err.msg, needle) || !strstr(err.msg, "src/global/pg_control"))
        fail_msg("message \"%s\" lacks \"%s\" or the file name", err.msg, needle);
}

static void rejects_short_files(void **state)
{
    (void)state;
    unsigned char b[SS_PG_CONTROL_FILE_SIZE];
    image(b, 1300);
    expect_fail(b, 0, "too short");
    expect_fail(b, 10, "too short");
    expect_fail(b, 100, "too short");
    expect_fail(b, 295, "too short");
    expect_fail(b, 296, "unexpected size");
    expect_fail(b, 8191, "unexpected size");
}

static void rejects_bad_crc(void **state)
{
    (void)state;
    unsigned char b[SS_PG_CONTROL_FILE_SIZE];
    image(b, 1300);
    b[216] ^= 0x01;     /* blcksz 8192 -> 8193: CRC must catch it */
    expect_fail(b, sizeof b, "bad CRC");
    image(b, 1300);
    b[CRC_OFF] ^= 0x80;
    expect_fail(b, sizeof b, "bad CRC");
}

static void rejects_unknown_versions(void **state)
{
    (void)state;
    unsigned char b[SS_PG_CONTROL_FILE_SIZE];
    static const uint32_t bad[] = { 0, 942, 1100, 1301, 1800, 8310500 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        image(b, 1300);
        put32(b, 8, bad[i]);
        seal(b);
        expect_fail(b, sizeof b, "unknown pg_control_version");
    }
    image(b, 1300);
    put32(b, 8, __builtin_bswap32(1300));
    expect_fail(b, sizeof b, "byte-swapped");
}

static void rejects_foreign_float_and_nonsense(void **state)
{
    (void)state;
    unsigned char b[SS_PG_CONTROL_FILE_SIZE];
    image(b, 1300);
    double ff = 7654321.0;
    memcpy(b + 208, &ff, 8);
    seal(b);
    expect_fail(b, sizeof b, "float format");
    image(b, 1300);
    put32(b, 216, 3000);
    seal(b);
    expect_fail(b, sizeof b, "block sizes");
    image(b, 1300);
    put32(b, 16, 42);
    seal(b);
    expect_fail(b, sizeof b, "state");
}

static void set_touches_only_its_fields(void **state)
{
    (void)state;
    unsigned char b[SS_PG_CONTROL_FILE_SIZE];
    image(b, 1700);
    ss_pg_control c;
    ss_err err = { 0 };
    assert_int_equal(ss_pg_control_parse(b, sizeof b, "t", &c, &err), 0);
    ss_pg_control_update u = {
        .state = SS_PG_DB_IN_ARCHIVE_RECOVERY,
        .min_recovery_point = 0x0000000200000100ull,
        .min_recovery_point_tli = 4,
        .backup_start_point = 0x0000000101234500ull,
        .backup_end_point = 0x0000000200000100ull,
        .backup_end_required = 1,
    };
    ss_pg_control_set(&c, &u);
    /* Byte ranges that may change: state, minRecoveryPoint(+TLI),
     * backupStart/End, backupEndRequired, crc. */
    static const size_t ranges[][2] = {
        { 16, 20 }, { 136, 148 }, { 152, 169 }, { CRC_OFF, CRC_OFF + 4 },
    };
    for (size_t i = 0; i < sizeof b; i++) {
        int may = 0;
        for (size_t r = 0; r < 4; r++)
            if (i >= ranges[r][0] && i < ranges[r][1])
                may = 1;
        if (!may && c.raw[i] != b[i])
            fail_msg("byte %zu changed", i);
    }
    ss_pg_control d;
    assert_int_equal(ss_pg_control_parse(c.raw, sizeof c.raw, "t", &d, &err), 0);
    assert_int_equal(d.state, SS_PG_DB_IN_ARCHIVE_RECOVERY);
    assert_true(d.min_recovery_point == u.min_recovery_point);
    assert_int_equal(d.min_recovery_point_tli, 4);
    assert_true(d.backup_start_point == u.backup_start_point);
    assert_true(d.backup_end_point == u.backup_end_point);
    assert_int_equal(d.backup_end_required, 1);
    assert_true(d.checkpoint == c.checkpoint);
}

static void write_then_read_round_trip(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_pg_control.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/global", dir);
    assert_int_equal(mkdir(path, 0700), 0);

    unsigned char b[SS_PG_CONTROL_FILE_SIZE];
    image(b, 1300);
    /* Garbage after the struct must not survive a write: PostgreSQL pads
     * with zeros. It does not affect the CRC, so the image still parses. */
    memset(b + 4000, 0xee, 100);
    ss_pg_control c;
    ss_err err = { 0 };
    assert_int_equal(ss_pg_control_parse(b, sizeof b, "t", &c, &err), 0);

    /* An existing longer file gets cut to 8192 bytes. */
    snprintf(path, sizeof path, "%s/global/pg_control", dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 20000), 0);
    close(fd);

    int rootfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(rootfd >= 0);
    ss_pg_control_update u = { .state = SS_PG_DB_IN_ARCHIVE_RECOVERY,
                                .min_recovery_point = 0x30000028ull,
                                .min_recovery_point_tli = 1 };
    assert_int_equal(ss_pg_control_write(rootfd, &c, &u, &err), 0);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, SS_PG_CONTROL_FILE_SIZE);
    assert_int_equal(st.st_mode & 0777, 0600);

    ss_pg_control d;
    assert_int_equal(ss_pg_control_read(dir, &d, &err), 0);
    assert_int_equal(d.state, SS_PG_DB_IN_ARCHIVE_RECOVERY);
    assert_true(d.min_recovery_point == 0x30000028ull);
    assert_true(d.system_identifier == c.system_identifier);
    for (size_t i = 296; i < SS_PG_CONTROL_FILE_SIZE; i++)
        if (d.raw[i])
            fail_msg("byte %zu after the control data is not zero", i);
    assert_int_equal(ss_pg_control_read_at(rootfd, dir, &d, &err), 0);

    /* Writing with no update keeps the values and a valid CRC. */
    assert_int_equal(ss_pg_control_write(rootfd, &d, NULL, &err), 0);
    ss_pg_control e;
    assert_int_equal(ss_pg_control_read(dir, &e, &err), 0);
    assert_memory_equal(e.raw, d.raw, 296);

    /* A damaged file on disk is reported with its path. */
    fd = open(path, O_WRONLY);
    assert_int_equal(pwrite(fd, "\xff", 1, 220), 1);
    close(fd);
    assert_int_equal(ss_pg_control_read(dir, &e, &err), -1);
    assert_non_null(strstr(err.msg, "bad CRC"));
    assert_non_null(strstr(err.msg, dir));

    unlink(path);
    assert_int_equal(ss_pg_control_read(dir, &e, &err), -1);
    assert_non_null(strstr(err.msg, "cannot open"));
    close(rootfd);
    snprintf(path, sizeof path, "%s/global", dir);
    rmdir(path);
    rmdir(dir);
    assert_int_equal(ss_pg_control_read("/nonexistent/segsync", &e, &err), -1);
}

static void same_cluster_names_the_field(void **state)
{
    (void)state;
    unsigned char b[SS_PG_CONTROL_FILE_SIZE];
    image(b, 1300);
    ss_pg_control a, c;
    ss_err err = { 0 };
    assert_int_equal(ss_pg_control_parse(b, sizeof b, "a", &a, &err), 0);
    c = a;
    c.state = SS_PG_DB_IN_PRODUCTION;   /* state does not matter */
    c.checkpoint++;
    assert_int_equal(ss_pg_control_same_cluster(&a, &c, NULL, NULL, &err), 0);

    struct { size_t off; const char *needle; } cases[] = {
        { offsetof(ss_pg_control, system_identifier), "system identifier" },
        { offsetof(ss_pg_control, catalog_version_no), "catalog version" },
        { offsetof(ss_pg_control, blcksz), "block size" },
        { offsetof(ss_pg_control, xlog_blcksz), "WAL block size" },
        { offsetof(ss_pg_control, xlog_seg_size), "WAL segment size" },
        { offsetof(ss_pg_control, pg_control_version), "pg_control version" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c = a;
        ((unsigned char *)&c)[cases[i].off] ^= 0x40;
        assert_int_equal(ss_pg_control_same_cluster(&a, &c, "primary", "mirror", &err), -1);
        assert_int_equal(err.kind, SS_ECLUSTER);
        if (!strstr(err.msg, cases[i].needle) || !strstr(err.msg, "mirror"))
            fail_msg("\"%s\" does not name %s", err.msg, cases[i].needle);
    }
}

static void state_names(void **state)
{
    (void)state;
    assert_string_equal(ss_pg_dbstate_name(SS_PG_DB_SHUTDOWNED), "shut down");
    assert_string_equal(ss_pg_dbstate_name(SS_PG_DB_IN_PRODUCTION), "in production");
    assert_string_equal(ss_pg_dbstate_name(SS_PG_DB_SHUTDOWNED_IN_RECOVERY),
                        "shut down in recovery");
    assert_string_equal(ss_pg_dbstate_name(SS_PG_DB_IN_ARCHIVE_RECOVERY), "in archive recovery");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_each_version),
        cmocka_unit_test(rejects_short_files),
        cmocka_unit_test(rejects_bad_crc),
        cmocka_unit_test(rejects_unknown_versions),
        cmocka_unit_test(rejects_foreign_float_and_nonsense),
        cmocka_unit_test(set_touches_only_its_fields),
        cmocka_unit_test(write_then_read_round_trip),
        cmocka_unit_test(same_cluster_names_the_field),
        cmocka_unit_test(state_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
