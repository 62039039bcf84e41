/*
 * recoveryconf.h — the small files a recovery writes into a target data
 * directory: backup_label, tablespace_map, standby.signal, and the
 * primary_conninfo / primary_slot_name settings that -R appends to
 * postgresql.auto.conf (as pg_basebackup -R does).
 *
 * Every file is written beneath the target root without following
 * symlinks, given the owner asked for (uid -1 keeps the caller's), and
 * fsync'ed.
 */
#ifndef SEGSYNC_PG_RECOVERYCONF_H
#define SEGSYNC_PG_RECOVERYCONF_H

#include <sys/types.h>

#include "engine/error.h"

/* Replace rel (under rootfd) by exactly `len` bytes of data, atomically. */
int ss_pg_write_file(int rootfd, const char *root_name, const char *rel, const void *data,
                     size_t len, uid_t uid, gid_t gid, ss_err *err);

/* standby.signal plus the settings appended to postgresql.auto.conf.
 * slot may be NULL. */
int ss_pg_write_standby_conf(int rootfd, const char *root_name, const char *conninfo,
                             const char *slot, uid_t uid, gid_t gid, ss_err *err);

/* Quote a value for postgresql.conf: 'it''s' (malloc'ed). */
char *ss_pg_conf_quote(const char *value);

#endif
