/* rmgrnames.c — resource manager and fork names for WAL dumps. */
#include "engine/pg/rmgrnames.h"

#include <stddef.h>

static const char *const builtin[] = {
    "XLOG", "Transaction", "Storage", "CLOG", "Database", "Tablespace",
    "MultiXact", "RelMap", "Standby", "Heap2", "Heap", "Btree", "Hash",
    "Gin", "Gist", "Sequence", "SPGist", "BRIN", "CommitTs",
    "ReplicationOrigin", "Generic", "LogicalMessage",
};

/* "custom128".."custom255", built at compile time: no mutable state. */
#define D(n) ((n) + '0')
#define C(n) { 'c', 'u', 's', 't', 'o', 'm', D((n) / 100), D((n) / 10 % 10), D((n) % 10), 0 }
#define C4(n) C(n), C(n + 1), C(n + 2), C(n + 3)
#define C16(n) C4(n), C4(n + 4), C4(n + 8), C4(n + 12)
static const char custom[128][10] = {
    C16(128), C16(144), C16(160), C16(176), C16(192), C16(208), C16(224), C16(240),
};

const char *ss_wal_rmgr_name(uint8_t rmid)
{
    if (rmid < sizeof builtin / sizeof builtin[0])
        return builtin[rmid];
    if (rmid >= 128)
        return custom[rmid - 128];
    return NULL;
}

const char *ss_wal_fork_name(uint8_t forknum)
{
    static const char *const forks[] = { "main", "fsm", "vm", "init" };
    return forknum < 4 ? forks[forknum] : NULL;
}
