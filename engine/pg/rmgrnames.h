/*
 * rmgrnames.h — names of WAL resource managers, spelled as pg_waldump
 * prints them (ids 0..21 are the same in PostgreSQL 12-17; 15+ also
 * allows custom ids 128..255, printed "custom###").
 */
#ifndef SEGSYNC_PG_RMGRNAMES_H
#define SEGSYNC_PG_RMGRNAMES_H

#include <stdint.h>

/* The name of rmid, or NULL if it is not a resource manager. */
const char *ss_wal_rmgr_name(uint8_t rmid);

/* The fork name pg_waldump prints: main, fsm, vm, init (NULL otherwise). */
const char *ss_wal_fork_name(uint8_t forknum);

#endif
