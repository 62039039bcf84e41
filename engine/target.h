/*
 * target.h — the only code that changes the target tree.
 *
 * Every operation works beneath the target root without following symlinks
 * (pathsafe.h): a symlink in the target is removed or replaced, never
 * written through. New files are written under a temporary name in their
 * final directory and renamed into place when complete, so a reader never
 * sees a half-written new file under its real name.
 */
#ifndef SEGSYNC_TARGET_H
#define SEGSYNC_TARGET_H

#include <stdint.h>
#include <sys/types.h>

#include "engine/error.h"
#include "engine/walk.h"

typedef enum {
    SS_OWNER_KEEP = 0,  /* whoever runs segsync owns what it creates */
    SS_OWNER_SOURCE,    /* copy the source's uid/gid (root, raw mode) */
    SS_OWNER_FIXED      /* give everything fixed_uid/fixed_gid (root, pg mode) */
} ss_owner_policy;

typedef struct {
    ss_owner_policy owner;
    uid_t fixed_uid;
    gid_t fixed_gid;
    int create_root;    /* create the root directory if it is missing */
} ss_target_opts;

typedef struct ss_target ss_target;

int ss_target_open(ss_target **out, const char *root, const ss_target_opts *o, ss_err *err);
void ss_target_close(ss_target *t);
int ss_target_rootfd(const ss_target *t);
const char *ss_target_root(const ss_target *t);

/* Remove rel whatever it is (a directory with all it holds). Missing is ok. */
int ss_target_remove(ss_target *t, const char *rel, ss_err *err);
/* Create a directory writable by us; its final mode comes from set_meta. */
int ss_target_mkdir(ss_target *t, const char *rel, ss_err *err);
/* Create symlink rel -> link with src's owner and mtime (src may be NULL),
 * atomically: made under a temporary name and renamed into place. */
int ss_target_symlink(ss_target *t, const char *rel, const char *link, const ss_entry *src,
                      ss_err *err);

/* Open an existing regular file for in-place update (read+write). fd.
 * A read-only file we own is made writable first; *chmodded (may be NULL)
 * then says so, and the caller must set its mode again. */
int ss_target_open_update(ss_target *t, const char *rel, int readonly, int *chmodded,
                          ss_err *err);
/* Create the temporary file that will become rel; *tmprel is malloc'ed. */
int ss_target_create_tmp(ss_target *t, const char *rel, char **tmprel, ss_err *err);
int ss_target_commit_tmp(ss_target *t, const char *tmprel, const char *rel, ss_err *err);
void ss_target_discard_tmp(ss_target *t, const char *tmprel);
/* 1 when name (a last path component) is a temporary file of ours. */
int ss_target_is_tmp_name(const char *name);

/* Apply mode/owner/mtime of src to an open file (fd) or, fd < 0, to rel. */
int ss_target_set_meta(ss_target *t, int fd, const char *rel, const ss_entry *src,
                       unsigned what, ss_err *err);

/* Make everything written durable: the file system's dirty data and
 * metadata (syncfs), then the root directory itself. */
int ss_target_sync(ss_target *t, ss_err *err);

#endif
