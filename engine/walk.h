/*
 * walk.h — list a directory tree without following symlinks.
 *
 * ss_walk returns every entry under a root (the root itself excluded) as
 * a vector sorted by ss_path_cmp: a directory always comes before its
 * contents, and two trees' listings can be merged in one pass. Entries are
 * lstat'ed; directories are opened with O_NOFOLLOW relative to their parent,
 * so a symlink is listed as a symlink and never entered.
 */
#ifndef SEGSYNC_WALK_H
#define SEGSYNC_WALK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "engine/error.h"

typedef enum { SS_FT_REG = 0, SS_FT_DIR, SS_FT_LNK, SS_FT_OTHER } ss_ftype;

typedef struct {
    char *path;             /* relative to the root, no leading "./" */
    char *link;             /* symlink target, else NULL */
    uint64_t size;
    int64_t mtime_sec;
    long mtime_nsec;
    uint32_t mode;          /* permission bits (st_mode & 07777) */
    uint32_t uid, gid;
    uint32_t nlink;         /* hard links to a regular file */
    ss_ftype type;
} ss_entry;

typedef struct {
    ss_entry *v;
    size_t n, cap;
    ss_entry root;          /* the root directory itself (path "", no strings owned) */
} ss_entry_list;

typedef struct {
    /* Keep sockets, fifos and devices in the listing (as SS_FT_OTHER).
     * A target listing wants them (so they can be removed); a source
     * listing reports them through `skipped` and leaves them out. */
    int keep_other;
    /* Called for an entry left out; may be NULL. */
    void (*skipped)(void *ctx, const char *path, const char *why);
    /* Return 0 to leave `path` (and, for a directory, its contents) out.
     * NULL includes everything. */
    int (*filter)(void *ctx, const char *path, const struct stat *st);
    /* A last pass over the sorted listing, for rules that need to see
     * siblings (unlogged relations). NULL for none. */
    int (*finish)(void *ctx, ss_entry_list *l, ss_err *err);
    void *ctx;
} ss_walk_opts;

int ss_walk(const char *root, const ss_walk_opts *opts, ss_entry_list *out, ss_err *err);
/* Same, starting from an open directory descriptor (not closed). */
int ss_walk_fd(int rootfd, const char *root_name, const ss_walk_opts *opts,
               ss_entry_list *out, ss_err *err);

void ss_entry_list_free(ss_entry_list *l);

/* For a listing that did not come from ss_walk (an agent, a server):
 * the struct stat ss_walk would hand a filter for e, and ss_walk's options
 * applied to a sorted list in place, as ss_walk would have (a refused
 * directory drops its contents unseen, "other" files go to `skipped`
 * unless keep_other, `finish` last; o NULL drops "other" files silently). */
void ss_entry_stat(const ss_entry *e, struct stat *st);
int ss_walk_apply_opts(const ss_walk_opts *o, ss_entry_list *l, ss_err *err);
/* Append a copy of e (strings duplicated). */
int ss_entry_list_push(ss_entry_list *l, const ss_entry *e, ss_err *err);
void ss_entry_list_sort(ss_entry_list *l);

/* Order in which trees are listed and merged: bytewise, with '/' lowest,
 * so "a", "a/b", "a.b" — a directory's contents follow it directly. */
int ss_path_cmp(const char *a, const char *b);

ss_ftype ss_ftype_of(mode_t m);
const char *ss_ftype_name(ss_ftype t);

#endif
