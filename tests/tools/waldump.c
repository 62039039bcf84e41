/* waldump — print the WAL records of a pg_wal directory with segsync's WAL
 * reader, one line each, in a form that compares easily with
 * `pg_waldump --bkp-details` output:
 *
 *   LSN RMGR len=TOT tx=XID prev=LSN [blkref #N: rel SPC/DB/REL fork F blk B [FPW]]...
 *
 * usage: waldump [-t TLI] PG_WAL START_LSN [END_LSN]
 * Records that end after END_LSN are not printed. The reason the WAL ended
 * goes to stderr. Exit 0 at the end of WAL or END_LSN, 1 on an error. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "engine/pg/rmgrnames.h"
#include "engine/pg/walreader.h"

static int parse_lsn(const char *s, ss_lsn *out)
{
    unsigned hi, lo;
    char tail;
    if (sscanf(s, "%X/%X%c", &hi, &lo, &tail) != 2)
        return -1;
    *out = ((uint64_t)hi << 32) | lo;
    return 0;
}

static void print_record(const ss_wal_record *r)
{
    const char *rm = ss_wal_rmgr_name(r->rmid);
    printf(SS_LSN_FMT " %s len=%u tx=%u prev=" SS_LSN_FMT, SS_LSN_ARGS(r->lsn),
           rm ? rm : "?", r->tot_len, r->xid, SS_LSN_ARGS(r->prev));
    for (int i = 0; i < r->nblocks; i++) {
        const ss_wal_block_ref *b = &r->blocks[i];
        const char *fork = ss_wal_fork_name(b->forknum);
        printf(" blkref #%u: rel %u/%u/%u fork %s blk %u%s", b->block_id, b->spcoid,
               b->dboid, b->relnode, fork ? fork : "?", b->blkno, b->has_image ? " FPW" : "");
    }
    putchar('\n');
}

int main(int argc, char **argv)
{
    uint32_t tli = 1;
    int a = 1;
    if (a + 1 < argc && strcmp(argv[a], "-t") == 0) {
        tli = (uint32_t)strtoul(argv[a + 1], NULL, 0);
        a += 2;
    }
    ss_lsn start, end = 0;
    if (argc - a < 2 || argc - a > 3 || parse_lsn(argv[a + 1], &start) < 0 ||
        (argc - a == 3 && parse_lsn(argv[a + 2], &end) < 0)) {
        fprintf(stderr, "usage: waldump [-t TLI] PG_WAL START_LSN [END_LSN]\n");
        return 2;
    }
    const char *dir = argv[a];

    ss_err err = { 0 };
    ss_wal_reader_config cfg = { .tli = tli };
    ss_wal_source src;
    ss_wal_reader *r;
    if (ss_wal_probe_dir(dir, &cfg.seg_size, &cfg.page_size, &cfg.pg_major, &err) < 0 ||
        ss_wal_source_dir(dir, cfg.seg_size, &src, &err) < 0 ||
        ss_wal_reader_open(&cfg, src, &r, &err) < 0) {
        fprintf(stderr, "waldump: error: %s\n", err.msg);
        return 1;
    }
    ss_lsn first;
    int rc = ss_wal_find_first(r, start, &first, &err);
    unsigned long n = 0;
    ss_wal_record rec;
    while (rc > 0 && (rc = ss_wal_read_next(r, &rec, &err)) > 0) {
        if (end && rec.end_lsn > end)
            break;
        print_record(&rec);
        n++;
    }
    if (rc < 0)
        fprintf(stderr, "waldump: error: %s\n", err.msg);
    else if (rc == 0)
        fprintf(stderr, "waldump: %s\n", err.msg);
    fprintf(stderr, "waldump: %lu records (PostgreSQL %d)\n", n, ss_wal_reader_version(r));
    ss_wal_reader_free(r);
    return rc < 0 ? 1 : 0;
}
