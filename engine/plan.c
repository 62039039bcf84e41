#include "engine/plan.h"

#include <string.h>

const char *ss_act_name(ss_act a)
{
    switch (a) {
    case SS_ACT_NONE: return "keep";
    case SS_ACT_MKDIR: return "mkdir";
    case SS_ACT_SYMLINK: return "symlink";
    case SS_ACT_COPY: return "copy";
    case SS_ACT_UPDATE: return "update";
    case SS_ACT_DELETE: return "delete";
    case SS_ACT_META: return "attrs";
    }
    return "?";
}

static unsigned meta_diff(const ss_entry *s, const ss_entry *d, const ss_plan_opts *o)
{
    unsigned m = 0;
    if (s->type != SS_FT_LNK && s->mode != d->mode)
        m |= SS_META_MODE;
    if (o->owner && (s->uid != d->uid || s->gid != d->gid))
        m |= SS_META_OWNER;
    /* A symlink's own mtime counts too, as rsync -a keeps it: a link with
     * the right text and another time is repaired, not taken as done. */
    if (o->mtime &&
        (s->mtime_sec != d->mtime_sec || s->mtime_nsec != d->mtime_nsec))
        m |= SS_META_MTIME;
    return m;
}

ss_plan_item ss_plan_decide(const ss_entry *src, const ss_entry *dst, const ss_plan_opts *o)
{
    ss_plan_item it = { SS_ACT_NONE, 0, 0, src, dst };
    if (!src) {
        if (dst)
            it.act = SS_ACT_DELETE;
        return it;
    }
    if (dst && dst->type != src->type)
        it.remove_first = 1;
    int same_type = dst && !it.remove_first;
    switch (src->type) {
    case SS_FT_DIR:
        if (!same_type) {
            it.act = SS_ACT_MKDIR;
            return it;
        }
        it.meta = meta_diff(src, dst, o);
        it.act = it.meta ? SS_ACT_META : SS_ACT_NONE;
        return it;
    case SS_FT_LNK:
        if (!same_type || strcmp(src->link, dst->link) != 0) {
            /* A symlink cannot be changed in place: replace it. */
            it.remove_first = dst != NULL;
            it.act = SS_ACT_SYMLINK;
            return it;
        }
        it.meta = meta_diff(src, dst, o);
        it.act = it.meta ? SS_ACT_META : SS_ACT_NONE;
        return it;
    case SS_FT_REG:
        /* A target file with other hard links is replaced, not written in
         * place, so the other names keep their contents (as rsync does). */
        if (!same_type || o->full || (dst->nlink > 1 && !o->compare_only)) {
            it.act = SS_ACT_COPY;
            return it;
        }
        it.meta = meta_diff(src, dst, o);
        it.act = SS_ACT_UPDATE;
        return it;
    default:
        return it;   /* sources never list special files */
    }
}
