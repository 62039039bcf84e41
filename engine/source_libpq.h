/*
 * source_libpq.h — a source that is the data directory of a running
 * PostgreSQL server, read through libpq, for when no segsync agent can run
 * on the source host.
 *
 * list() is one recursive SQL query over pg_ls_dir and pg_stat_file;
 * range() reads its chunk with one query, as 64 KiB rows of
 * pg_read_binary_file in binary format, on one of the pool's connections
 * while the target's signatures are computed, then compares blocks like
 * any source (ss_source_emit_diff). wire_bytes() counts the bytes of the
 * values received; copy_to is NULL. Paths stay relative to the data
 * directory on the server, which follows pg_tblspc/<oid> links itself.
 *
 * What SQL cannot show, and what is listed instead:
 *   - modes: the server's data_directory_mode for directories (0700, or
 *     0750 with group access; 0700 before PostgreSQL 11), the same without
 *     execute bits for files (0600 / 0640), 0777 for links: what initdb and
 *     the server create;
 *   - owners: this process's uid/gid (recovery sets its own owner);
 *   - mtimes: whole seconds (pg_stat_file has no finer ones);
 *   - symlinks: only pg_tblspc/<oid> links of tablespaces with an absolute
 *     location (pg_tablespace_location) are SS_FT_LNK, with `link` set, and
 *     never entered. Any other symlink (pg_wal made with initdb -X, a link
 *     an admin added) is listed as what it points to, as pg_rewind does;
 *   - sockets and fifos look like empty files.
 *
 * The role connecting must be a superuser or have EXECUTE on
 * pg_catalog.pg_ls_dir(text, boolean, boolean),
 * pg_catalog.pg_stat_file(text, boolean) and
 * pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) (the same
 * grants pg_rewind documents); open checks this and names what is missing.
 * Only relative paths are ever sent, so pg_read_server_files is not needed.
 *
 * Requires PostgreSQL 9.5 or later (missing_ok variants of the functions).
 */
#ifndef SEGSYNC_SOURCE_LIBPQ_H
#define SEGSYNC_SOURCE_LIBPQ_H

#include <stddef.h>

#include "engine/error.h"
#include "engine/source.h"
#include "engine/walk.h"

/* Open a source that reads the data directory of the server at conninfo
 * (key=value pairs or a postgres:// URI).
 * sub: "" = the data directory, or "pg_tblspc/<oid>" = a tablespace's
 * location (the server follows the link); listed paths are relative to it.
 * wo filters the listing client-side exactly as ss_walk would (filter with
 * a synthesized struct stat, a refused directory drops its contents,
 * skipped called, finish run last); may be NULL (copied, ctx must outlive
 * the source).
 * live: files may vanish or shrink while read: range returns 1 for a
 * vanished file, a shrunk file is padded with zeros to its listed size.
 * Always the case for a running server; without it either is SS_ECHANGED
 * and the last chunk of a file checks its size.
 * nconn: connections in the pool (>= 1), so that the engine's worker
 * threads can read concurrently; the first is opened here, the rest on
 * demand. */
int ss_source_libpq_open(ss_source **out, const char *conninfo, const char *sub,
                         const ss_walk_opts *wo, int live, unsigned nconn, ss_err *err);

/* A whole small file, path relative to the data directory (whatever sub
 * the source has): 0 ok (*buf malloc'd, NUL-terminated beyond *len), 1 it
 * does not exist, -1 error (also when larger than max bytes). */
int ss_source_libpq_read_file(ss_source *s, const char *path, size_t max, void **buf,
                              size_t *len, ss_err *err);

#endif
