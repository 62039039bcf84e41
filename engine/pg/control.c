/*
 * control.c — pg_control as bytes at known offsets.
 *
 * We never cast the buffer to a C struct: the layout is PostgreSQL's
 * ControlFileData as the C compiler lays it out on x86-64 / aarch64
 * (8-byte alignment for 64-bit fields), written down as offsets per
 * pg_control_version. Fields are read and written with memcpy, so an odd
 * buffer alignment never matters.
 *
 * How the versions differ (checked against each release's pg_control.h):
 * - 1201 (12): CheckPoint.nextFullXid (a 64-bit FullTransactionId) after
 *   fullPageWrites; ControlFileData ends with float4ByVal, float8ByVal,
 *   data_checksum_version, mock_authentication_nonce[32], crc.
 * - 1300 (13..16): nextFullXid renamed nextXid, float4ByVal removed. The
 *   lone bool before data_checksum_version is followed by padding either
 *   way, so no offset that we read moves.
 * - 1700 (17): CheckPoint gains `int wal_level` after fullPageWrites; it
 *   sits in what was padding before the 8-byte-aligned nextXid, so again
 *   no offset moves.
 * The table below still carries one row per format so that a future
 * format that does move things is one new row, and an unknown version is
 * refused instead of misread.
 */
#include "engine/pg/control.h"
#include "engine/pathsafe.h"
#include "engine/pg/crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    uint32_t version;
    const char *releases;
    /* ControlFileData */
    size_t state, time, checkpoint;
    /* checkPointCopy (CheckPoint) and the fields we use inside it */
    size_t cp_redo, cp_tli, cp_prev_tli, cp_fpw;
    size_t min_recovery_point, min_recovery_point_tli;
    size_t backup_start_point, backup_end_point, backup_end_required;
    size_t wal_level, wal_log_hints, max_connections;
    size_t float_format;
    size_t blcksz, relseg_size, xlog_blcksz, xlog_seg_size;
    size_t data_checksum_version;
    size_t crc;             /* == bytes covered by the CRC */
    size_t struct_size;     /* sizeof(ControlFileData) */
} layout;

/* Offsets shared by 12..17; see the comment at the top. CheckPoint starts
 * at 40 and is 88 bytes long. */
#define COMMON_OFFSETS                                                         \
    .state = 16, .time = 24, .checkpoint = 32,                                 \
    .cp_redo = 40 + 0, .cp_tli = 40 + 8, .cp_prev_tli = 40 + 12,               \
    .cp_fpw = 40 + 16,                                                         \
    .min_recovery_point = 136, .min_recovery_point_tli = 144,                  \
    .backup_start_point = 152, .backup_end_point = 160,                        \
    .backup_end_required = 168,                                                \
    .wal_level = 172, .wal_log_hints = 176, .max_connections = 180,            \
    .float_format = 208,                                                       \
    .blcksz = 216, .relseg_size = 220, .xlog_blcksz = 224,                     \
    .xlog_seg_size = 228, .data_checksum_version = 252,                        \
    .crc = 288, .struct_size = 296

static const layout layouts[] = {
    { .version = 1201, .releases = "12", COMMON_OFFSETS },
    { .version = 1300, .releases = "13-16", COMMON_OFFSETS },
    { .version = 1700, .releases = "17", COMMON_OFFSETS },
};

/* pg_control_version and catalog_version_no never move ("8 bytes into
 * the file"), which is what lets us pick a layout at all. */
#define OFF_SYSID 0
#define OFF_VERSION 8
#define OFF_CATVER 12

/* Written by initdb into every pg_control to detect a foreign float format. */
#define FLOAT_FORMAT_VALUE 1234567.0

static const layout *layout_for(uint32_t version)
{
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
        if (layouts[i].version == version)
            return &layouts[i];
    return NULL;
}

const char *ss_pg_control_version_name(uint32_t v)
{
    const layout *l = layout_for(v);
    return l ? l->releases : NULL;
}

static uint32_t rd32(const unsigned char *p, size_t off)
{
    uint32_t v;
    memcpy(&v, p + off, sizeof v);
    return v;
}

static uint64_t rd64(const unsigned char *p, size_t off)
{
    uint64_t v;
    memcpy(&v, p + off, sizeof v);
    return v;
}

static void wr32(unsigned char *p, size_t off, uint32_t v) { memcpy(p + off, &v, sizeof v); }
static void wr64(unsigned char *p, size_t off, uint64_t v) { memcpy(p + off, &v, sizeof v); }

static bool pow2_between(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

int ss_pg_control_parse(const void *buf, size_t len, const char *what,
                        ss_pg_control *out, ss_err *err)
{
    const unsigned char *p = buf;
    if (!what)
        what = "pg_control";
    if (len < OFF_CATVER + 4)
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "%s: file too short (%zu bytes) to hold a pg_control version",
                         what, len);

    uint32_t version = rd32(p, OFF_VERSION);
    const layout *l = layout_for(version);
    if (!l) {
        /* A byte-swapped 1300 would read as 0x14050000: worth saying. */
        uint32_t sw = __builtin_bswap32(version);
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "%s: unknown pg_control_version %u%s (supported: 1201 for "
                         "PostgreSQL 12, 1300 for 13-16, 1700 for 17)",
                         what, version,
                         layout_for(sw) ? " (looks byte-swapped: other endianness)" : "");
    }
    if (len < l->struct_size)
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "%s: file too short (%zu bytes, pg_control_version %u needs %zu)",
                         what, len, version, l->struct_size);
    if (len != SS_PG_CONTROL_FILE_SIZE)
        return ss_seterr(err, SS_ECLUSTER, 0, "%s: unexpected size %zu bytes (expected %d)",
                         what, len, SS_PG_CONTROL_FILE_SIZE);

    uint32_t stored = rd32(p, l->crc);
    uint32_t calc = ss_crc32c(p, l->crc);
    if (stored != calc)
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "%s: bad CRC (stored %08x, computed %08x): file is damaged", what,
                         stored, calc);

    double ff;
    memcpy(&ff, p + l->float_format, sizeof ff);
    if (ff != FLOAT_FORMAT_VALUE)
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "%s: written by a machine with a different float format or alignment",
                         what);

    memset(out, 0, offsetof(ss_pg_control, raw));
    out->pg_control_version = version;
    out->catalog_version_no = rd32(p, OFF_CATVER);
    out->system_identifier = rd64(p, OFF_SYSID);
    out->state = (ss_pg_dbstate)rd32(p, l->state);
    out->time = (int64_t)rd64(p, l->time);
    out->checkpoint = rd64(p, l->checkpoint);
    out->checkpoint_redo = rd64(p, l->cp_redo);
    out->checkpoint_tli = rd32(p, l->cp_tli);
    out->checkpoint_prev_tli = rd32(p, l->cp_prev_tli);
    out->full_page_writes = p[l->cp_fpw] != 0;
    out->min_recovery_point = rd64(p, l->min_recovery_point);
    out->min_recovery_point_tli = rd32(p, l->min_recovery_point_tli);
    out->backup_start_point = rd64(p, l->backup_start_point);
    out->backup_end_point = rd64(p, l->backup_end_point);
    out->backup_end_required = p[l->backup_end_required] != 0;
    out->wal_level = (int32_t)rd32(p, l->wal_level);
    out->wal_log_hints = p[l->wal_log_hints] != 0;
    out->max_connections = (int32_t)rd32(p, l->max_connections);
    out->blcksz = rd32(p, l->blcksz);
    out->relseg_size = rd32(p, l->relseg_size);
    out->xlog_blcksz = rd32(p, l->xlog_blcksz);
    out->xlog_seg_size = rd32(p, l->xlog_seg_size);
    out->data_checksum_version = rd32(p, l->data_checksum_version);
    out->crc = stored;
    out->data_len = l->crc + 4;
    memcpy(out->raw, p, SS_PG_CONTROL_FILE_SIZE);

    /* A right CRC over nonsense is unlikely, but these values size every
     * buffer and divide every offset downstream: refuse what cannot be. */
    if (out->state > SS_PG_DB_IN_PRODUCTION)
        return ss_seterr(err, SS_ECLUSTER, 0, "%s: invalid database state %u", what,
                         (unsigned)out->state);
    if (!pow2_between(out->blcksz, 1024, 32768) || !pow2_between(out->xlog_blcksz, 1024, 65536))
        return ss_seterr(err, SS_ECLUSTER, 0, "%s: invalid block sizes (data %u, WAL %u)", what,
                         out->blcksz, out->xlog_blcksz);
    if (!pow2_between(out->xlog_seg_size, 1u << 20, 1u << 30) || out->relseg_size == 0)
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "%s: invalid WAL segment size %u or relation segment size %u", what,
                         out->xlog_seg_size, out->relseg_size);
    return 0;
}

int ss_pg_control_read_at(int rootfd, const char *root_name, ss_pg_control *out, ss_err *err)
{
    char what[4096];
    snprintf(what, sizeof what, "%s/%s", root_name ? root_name : ".", SS_PG_CONTROL_PATH);
    int fd = ss_open_beneath(rootfd, SS_PG_CONTROL_PATH, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return ss_seterr(err, SS_ECLUSTER, -fd, "cannot open %s", what);

    /* Read one byte more than the expected size so a longer file is seen. */
    unsigned char buf[SS_PG_CONTROL_FILE_SIZE + 1];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t n = pread(fd, buf + got, sizeof buf - got, (off_t)got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            return ss_seterr(err, SS_ECLUSTER, e, "cannot read %s", what);
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return ss_pg_control_parse(buf, got, what, out, err);
}

int ss_pg_control_read(const char *datadir, ss_pg_control *out, ss_err *err)
{
    int rootfd = open(datadir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return ss_seterr(err, SS_ECLUSTER, errno, "cannot open data directory %s", datadir);
    int rc = ss_pg_control_read_at(rootfd, datadir, out, err);
    close(rootfd);
    return rc;
}

void ss_pg_control_set(ss_pg_control *c, const ss_pg_control_update *u)
{
    const layout *l = layout_for(c->pg_control_version);
    if (!l)
        return;     /* cannot happen for a parsed control */
    c->state = u->state;
    c->min_recovery_point = u->min_recovery_point;
    c->min_recovery_point_tli = u->min_recovery_point_tli;
    c->backup_start_point = u->backup_start_point;
    c->backup_end_point = u->backup_end_point;
    c->backup_end_required = u->backup_end_required != 0;

    wr32(c->raw, l->state, (uint32_t)u->state);
    wr64(c->raw, l->min_recovery_point, u->min_recovery_point);
    wr32(c->raw, l->min_recovery_point_tli, u->min_recovery_point_tli);
    wr64(c->raw, l->backup_start_point, u->backup_start_point);
    wr64(c->raw, l->backup_end_point, u->backup_end_point);
    c->raw[l->backup_end_required] = u->backup_end_required ? 1 : 0;

    c->crc = ss_crc32c(c->raw, l->crc);
    wr32(c->raw, l->crc, c->crc);
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = pwrite(fd, p + off, n - off, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

int ss_pg_control_write(int rootfd, ss_pg_control *c, const ss_pg_control_update *upd,
                        ss_err *err)
{
    const layout *l = layout_for(c->pg_control_version);
    if (!l)
        return ss_seterr(err, SS_EINTERNAL, 0, "%s: unknown pg_control_version %u, not writing",
                         SS_PG_CONTROL_PATH, c->pg_control_version);
    if (upd) {
        ss_pg_control_set(c, upd);
    } else {
        c->crc = ss_crc32c(c->raw, l->crc);
        wr32(c->raw, l->crc, c->crc);
    }

    /* As PostgreSQL: the control data, then zeros up to the file size. The
     * zeros make a damaged tail obvious and keep the size constant across
     * versions so a wrong version is reported as such, not as a short read. */
    unsigned char page[SS_PG_CONTROL_FILE_SIZE];
    memset(page, 0, sizeof page);
    memcpy(page, c->raw, l->struct_size);

    int fd = ss_open_beneath(rootfd, SS_PG_CONTROL_PATH, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return ss_seterr(err, SS_ETARGET, -fd, "cannot open %s for writing", SS_PG_CONTROL_PATH);
    struct stat st;
    if (write_all(fd, page, sizeof page) < 0 ||
        (fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof page &&
         ftruncate(fd, (off_t)sizeof page) < 0)) {
        int e = errno;
        close(fd);
        return ss_seterr(err, SS_ETARGET, e, "cannot write %s", SS_PG_CONTROL_PATH);
    }
    if (fsync(fd) < 0) {
        int e = errno;
        close(fd);
        return ss_seterr(err, SS_ETARGET, e, "cannot fsync %s", SS_PG_CONTROL_PATH);
    }
    if (close(fd) < 0)
        return ss_seterr(err, SS_ETARGET, errno, "cannot close %s", SS_PG_CONTROL_PATH);

    /* The file may have just been created: make its directory entry durable. */
    int dfd = ss_open_beneath(rootfd, "global", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0)
        return ss_seterr(err, SS_ETARGET, -dfd, "cannot open global/ to fsync it");
    if (fsync(dfd) < 0) {
        int e = errno;
        close(dfd);
        return ss_seterr(err, SS_ETARGET, e, "cannot fsync global/");
    }
    close(dfd);
    return 0;
}

int ss_pg_control_same_cluster(const ss_pg_control *a, const ss_pg_control *b,
                               const char *a_name, const char *b_name, ss_err *err)
{
    if (!a_name)
        a_name = "source";
    if (!b_name)
        b_name = "target";
#define DIFF(field, label)                                                              \
    if (a->field != b->field)                                                           \
        return ss_seterr(err, SS_ECLUSTER, 0,                                           \
                         "%s and %s are not the same cluster: " label " %llu (%s) != %llu (%s)", \
                         a_name, b_name, (unsigned long long)a->field, a_name,          \
                         (unsigned long long)b->field, b_name)
    DIFF(system_identifier, "database system identifier");
    DIFF(pg_control_version, "pg_control version");
    DIFF(catalog_version_no, "catalog version");
    DIFF(blcksz, "block size");
    DIFF(xlog_blcksz, "WAL block size");
    DIFF(xlog_seg_size, "WAL segment size");
#undef DIFF
    return 0;
}

const char *ss_pg_dbstate_name(ss_pg_dbstate s)
{
    switch (s) {
    case SS_PG_DB_STARTUP: return "starting up";
    case SS_PG_DB_SHUTDOWNED: return "shut down";
    case SS_PG_DB_SHUTDOWNED_IN_RECOVERY: return "shut down in recovery";
    case SS_PG_DB_SHUTDOWNING: return "shutting down";
    case SS_PG_DB_IN_CRASH_RECOVERY: return "in crash recovery";
    case SS_PG_DB_IN_ARCHIVE_RECOVERY: return "in archive recovery";
    case SS_PG_DB_IN_PRODUCTION: return "in production";
    }
    return "unrecognized status code";
}
