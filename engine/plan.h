/*
 * plan.h — what happens to one path, as a plain function of the two sides.
 *
 * ss_plan_decide looks at the source's and the target's entry for a path
 * (either may be NULL) and returns the action that makes the target match.
 * Decisions are data: they are printed by --dry-run, counted for progress
 * and unit-tested without touching a disk. Only target.c performs them.
 */
#ifndef SEGSYNC_PLAN_H
#define SEGSYNC_PLAN_H

#include "engine/walk.h"

typedef enum {
    SS_ACT_NONE = 0,
    SS_ACT_MKDIR,       /* create a directory */
    SS_ACT_SYMLINK,     /* create (or re-point) a symlink */
    SS_ACT_COPY,        /* write the whole file under a temporary name, rename */
    SS_ACT_UPDATE,      /* compare blocks, write the differing ones in place */
    SS_ACT_DELETE,      /* remove the target entry (recursively for a dir) */
    SS_ACT_META         /* contents equal; only mode/owner/mtime differ */
} ss_act;

enum {
    SS_META_MODE = 1,
    SS_META_OWNER = 2,
    SS_META_MTIME = 4,
};

typedef struct {
    int full;           /* copy every regular file, never read the target's */
    int owner;          /* owners matter (root preserving uid/gid) */
    int mtime;          /* mtimes matter (raw mode keeps them, as rsync -a) */
    int compare_only;   /* verify: plan nothing that is not a difference */
} ss_plan_opts;

typedef struct {
    ss_act act;
    int remove_first;   /* the target has another type at this path */
    unsigned meta;      /* SS_META_* that differ (for any act but DELETE) */
    const ss_entry *src, *dst;
} ss_plan_item;

ss_plan_item ss_plan_decide(const ss_entry *src, const ss_entry *dst, const ss_plan_opts *o);
const char *ss_act_name(ss_act a);

#endif
