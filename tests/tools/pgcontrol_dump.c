/* pgcontrol_dump DATADIR — print what engine/pg/control parses from
 * DATADIR/global/pg_control as "name: value" lines, so a test can compare
 * them with pg_controldata. LSNs are printed as pg_controldata does (X/X). */
#include "engine/pg/control.h"

#include <inttypes.h>
#include <stdio.h>

static void lsn(const char *name, uint64_t v)
{
    printf("%s: %X/%X\n", name, (unsigned)(v >> 32), (unsigned)v);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DATADIR\n", argv[0]);
        return 2;
    }
    ss_pg_control c;
    ss_err err = { 0 };
    if (ss_pg_control_read(argv[1], &c, &err) < 0) {
        fprintf(stderr, "pgcontrol_dump: error: %s\n", err.msg);
        return 1;
    }
    printf("pg_control_version: %u\n", c.pg_control_version);
    printf("catalog_version_no: %u\n", c.catalog_version_no);
    printf("system_identifier: %" PRIu64 "\n", c.system_identifier);
    printf("state: %s\n", ss_pg_dbstate_name(c.state));
    lsn("checkpoint", c.checkpoint);
    lsn("checkpoint_redo", c.checkpoint_redo);
    printf("checkpoint_tli: %u\n", c.checkpoint_tli);
    printf("checkpoint_prev_tli: %u\n", c.checkpoint_prev_tli);
    printf("full_page_writes: %s\n", c.full_page_writes ? "on" : "off");
    lsn("min_recovery_point", c.min_recovery_point);
    printf("min_recovery_point_tli: %u\n", c.min_recovery_point_tli);
    lsn("backup_start_point", c.backup_start_point);
    lsn("backup_end_point", c.backup_end_point);
    printf("backup_end_required: %s\n", c.backup_end_required ? "yes" : "no");
    printf("wal_level: %d\n", c.wal_level);
    printf("wal_log_hints: %s\n", c.wal_log_hints ? "on" : "off");
    printf("max_connections: %d\n", c.max_connections);
    printf("blcksz: %u\n", c.blcksz);
    printf("relseg_size: %u\n", c.relseg_size);
    printf("xlog_blcksz: %u\n", c.xlog_blcksz);
    printf("xlog_seg_size: %u\n", c.xlog_seg_size);
    printf("data_checksum_version: %u\n", c.data_checksum_version);
    return 0;
}
