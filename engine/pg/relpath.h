/*
 * relpath.h — relation file names inside a data directory, both ways.
 *
 * A relation's data lives in files named
 *     global/<relfilenode>[_fork][.<segno>]                  (shared catalogs)
 *     base/<dboid>/<relfilenode>[_fork][.<segno>]            (default tablespace)
 *     pg_tblspc/<spcoid>/<verdir>/<dboid>/<relfilenode>[_fork][.<segno>]
 * where _fork is _fsm, _vm or _init (none = main fork), <segno> >= 1 counts
 * the 1 GB (RELSEG_SIZE) pieces after the first, <verdir> is PostgreSQL's
 * PG_<major>_<catversion> or Greenplum's GPDB_<major>_<catversion>, and a
 * temporary relation's name is t<backend>_<relfilenode>[_fork][.<segno>].
 *
 * What this module promises: parsing is strict (no leading zeros, OIDs
 * between 1 and 2^32-1, segment numbers >= 1, nothing trailing), so a name
 * that parses formats back to exactly the same string. It looks at strings
 * only and never touches the file system.
 */
#ifndef SEGSYNC_PG_RELPATH_H
#define SEGSYNC_PG_RELPATH_H

#include <stddef.h>
#include <stdint.h>

#define SS_PG_DEFAULTTABLESPACE_OID 1663u   /* base/ */
#define SS_PG_GLOBALTABLESPACE_OID 1664u    /* global/ */

typedef enum {
    SS_PG_FORK_MAIN = 0,
    SS_PG_FORK_FSM,
    SS_PG_FORK_VM,
    SS_PG_FORK_INIT
} ss_pg_fork;

typedef struct {
    uint32_t spcoid;        /* 1663 base/, 1664 global/, else pg_tblspc/<oid> */
    uint32_t dboid;         /* 0 for global/ */
    uint32_t relfilenode;
    ss_pg_fork fork;
    uint32_t segno;         /* 0 for the first file (no ".N" suffix) */
    int is_temp;            /* t<backend>_... */
    uint32_t backend;       /* the backend (proc) number of a temp relation */
} ss_pg_relfile;

/* Parse one file name (no '/'): sets relfilenode, fork, segno, is_temp,
 * backend; leaves spcoid/dboid alone. 1 when it is a relation file name,
 * 0 when not. */
int ss_pg_relname_parse(const char *name, ss_pg_relfile *out);

/* Parse a path relative to the data directory. 1 when it names a relation
 * file (all fields set), 0 when not. When verdir is not NULL the tablespace
 * version directory is copied there ("" outside pg_tblspc); a name that
 * does not fit in verdir_size makes the path not match. Temporary relations
 * are recognized in database directories only, never in global/. */
int ss_pg_relpath_parse(const char *path, ss_pg_relfile *out, char *verdir, size_t verdir_size);

/* 1 when `dir` (relative, no trailing '/') is a database directory:
 * base/<dboid> or pg_tblspc/<spcoid>/<verdir>/<dboid>; sets *spcoid and
 * *dboid (either may be NULL). 0 when not. */
int ss_pg_dbdir_parse(const char *dir, uint32_t *spcoid, uint32_t *dboid);

/* 1 when name is a tablespace version directory: PG_<major>_<catversion>
 * or GPDB_<major>_<catversion> (major is digits and dots, catversion digits). */
int ss_pg_tblspc_verdir_ok(const char *name);

/* Write the relative path of r into buf. verdir is used for tablespaces
 * other than base/ and global/ (it must pass ss_pg_tblspc_verdir_ok).
 * Returns the length, or -1 when r is inconsistent (e.g. temp in global/,
 * dboid 0 outside global/) or buf is too small. */
int ss_pg_relpath_format(const ss_pg_relfile *r, const char *verdir, char *buf, size_t size);

/* "", "_fsm", "_vm", "_init". */
const char *ss_pg_fork_suffix(ss_pg_fork f);

#endif
