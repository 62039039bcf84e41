#include "engine/walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ss_ftype ss_ftype_of(mode_t m)
{
    if (S_ISREG(m)) return SS_FT_REG;
    if (S_ISDIR(m)) return SS_FT_DIR;
    if (S_ISLNK(m)) return SS_FT_LNK;
    return SS_FT_OTHER;
}

const char *ss_ftype_name(ss_ftype t)
{
    switch (t) {
    case SS_FT_REG: return "file";
    case SS_FT_DIR: return "directory";
    case SS_FT_LNK: return "symlink";
    default: return "special file";
    }
}

int ss_path_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    for (;; x++, y++) {
        unsigned cx = *x == '/' ? 1 : (*x ? (unsigned)*x + 1 : 0);
        unsigned cy = *y == '/' ? 1 : (*y ? (unsigned)*y + 1 : 0);
        if (cx != cy)
            return cx < cy ? -1 : 1;
        if (!*x)
            return 0;
    }
}

static int entry_cmp(const void *a, const void *b)
{
    return ss_path_cmp(((const ss_entry *)a)->path, ((const ss_entry *)b)->path);
}

void ss_entry_list_sort(ss_entry_list *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, entry_cmp);
}

void ss_entry_list_free(ss_entry_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].link);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
    l->root.path = (char *)"";
}

int ss_entry_list_push(ss_entry_list *l, const ss_entry *e, ss_err *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        ss_entry *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot grow file list");
        l->v = v;
        l->cap = cap;
    }
    ss_entry *d = &l->v[l->n];
    *d = *e;
    d->path = strdup(e->path);
    d->link = e->link ? strdup(e->link) : NULL;
    if (!d->path || (e->link && !d->link)) {
        free(d->path);
        free(d->link);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot grow file list");
    }
    l->n++;
    return 0;
}

static void fill_entry(ss_entry *e, const struct stat *st)
{
    e->type = ss_ftype_of(st->st_mode);
    e->size = e->type == SS_FT_REG ? (uint64_t)st->st_size : 0;
    e->mtime_sec = st->st_mtim.tv_sec;
    e->mtime_nsec = st->st_mtim.tv_nsec;
    e->mode = st->st_mode & 07777;
    e->uid = st->st_uid;
    e->gid = st->st_gid;
    e->nlink = (uint32_t)st->st_nlink;
}

static int read_link_at(int dfd, const char *name, const char *path, uint64_t hint,
                        char **out, ss_err *err)
{
    size_t cap = hint > 0 && hint < 65536 ? (size_t)hint + 1 : 256;
    for (;;) {
        char *buf = malloc(cap);
        if (!buf)
            return ss_seterr(err, SS_EINTERNAL, ENOMEM, "%s: out of memory", path);
        ssize_t n = readlinkat(dfd, name, buf, cap);
        if (n < 0) {
            int e = errno;
            free(buf);
            return ss_seterr(err, SS_ESOURCE, e, "cannot read symlink %s", path);
        }
        if ((size_t)n < cap) {
            buf[n] = 0;
            *out = buf;
            return 0;
        }
        free(buf);
        cap *= 2;
    }
}

typedef struct {
    const ss_walk_opts *opts;
    const char *root_name;
    ss_entry_list *out;
    ss_err *err;
} walk_state;

static int walk_dir(walk_state *w, int dfd, const char *rel);

static int walk_one(walk_state *w, int dfd, const char *name, const char *rel)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)    /* vanished between readdir and stat */
            return 0;
        return ss_seterr(w->err, SS_ESOURCE, errno, "cannot stat %s/%s", w->root_name, rel);
    }
    const ss_walk_opts *o = w->opts;
    if (o && o->filter && !o->filter(o->ctx, rel, &st))
        return 0;
    ss_entry e = {0};
    fill_entry(&e, &st);
    e.path = (char *)rel;
    if (e.type == SS_FT_OTHER && !(o && o->keep_other)) {
        if (o && o->skipped)
            o->skipped(o->ctx, rel, "not a regular file, directory or symlink");
        return 0;
    }
    char *link = NULL;
    if (e.type == SS_FT_LNK) {
        if (read_link_at(dfd, name, rel, (uint64_t)st.st_size, &link, w->err) < 0)
            return -1;
        e.link = link;
    }
    int rc = ss_entry_list_push(w->out, &e, w->err);
    free(link);
    if (rc < 0)
        return -1;
    if (e.type == SS_FT_DIR) {
        int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0 && errno == ENOENT)
            return 0;   /* removed since it was listed (a dropped database) */
        if (sub < 0)
            return ss_seterr(w->err, SS_ESOURCE, errno, "cannot open directory %s/%s",
                             w->root_name, rel);
        rc = walk_dir(w, sub, rel);
        close(sub);
        return rc;
    }
    return 0;
}

/* Takes no ownership of dfd. */
static int walk_dir(walk_state *w, int dfd, const char *rel)
{
    /* A fresh open of "." rather than dup(): a dup shares the directory
     * offset with the caller's descriptor, and a second walk would find it
     * at the end. */
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ss_seterr(w->err, SS_ESOURCE, errno, "cannot open directory %s/%s", w->root_name, rel);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return ss_seterr(w->err, SS_ESOURCE, errno, "cannot read directory %s/%s", w->root_name, rel);
    }
    size_t rlen = strlen(rel);
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                rc = ss_seterr(w->err, SS_ESOURCE, errno, "cannot read directory %s/%s",
                               w->root_name, rel);
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        size_t nlen = strlen(de->d_name);
        char *child = malloc(rlen + nlen + 2);
        if (!child) {
            rc = ss_seterr(w->err, SS_EINTERNAL, ENOMEM, "out of memory");
            break;
        }
        if (rlen)
            memcpy(child, rel, rlen), child[rlen] = '/', memcpy(child + rlen + 1, de->d_name, nlen + 1);
        else
            memcpy(child, de->d_name, nlen + 1);
        rc = walk_one(w, dirfd(d), de->d_name, child);
        free(child);
        if (rc < 0)
            break;
    }
    closedir(d);
    return rc;
}

int ss_walk_fd(int rootfd, const char *root_name, const ss_walk_opts *opts,
               ss_entry_list *out, ss_err *err)
{
    walk_state w = { opts, root_name, out, err };
    memset(out, 0, sizeof *out);
    struct stat st;
    if (fstat(rootfd, &st) < 0)
        return ss_seterr(err, SS_ESOURCE, errno, "cannot stat %s", root_name);
    fill_entry(&out->root, &st);
    out->root.path = (char *)"";
    if (walk_dir(&w, rootfd, "") < 0) {
        ss_entry_list_free(out);
        return -1;
    }
    ss_entry_list_sort(out);
    if (opts && opts->finish && opts->finish(opts->ctx, out, err) < 0) {
        ss_entry_list_free(out);
        return -1;
    }
    return 0;
}

int ss_walk(const char *root, const ss_walk_opts *opts, ss_entry_list *out, ss_err *err)
{
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ss_seterr(err, SS_ESOURCE, errno, "cannot open directory %s", root);
    int rc = ss_walk_fd(fd, root, opts, out, err);
    close(fd);
    return rc;
}

/* See walk.h. "Other" files become sockets: a listing does not say which
 * kind they were. */
void ss_entry_stat(const ss_entry *e, struct stat *st)
{
    memset(st, 0, sizeof *st);
    static const mode_t fmt[] = { [SS_FT_REG] = S_IFREG, [SS_FT_DIR] = S_IFDIR,
                                  [SS_FT_LNK] = S_IFLNK, [SS_FT_OTHER] = S_IFSOCK };
    st->st_mode = fmt[e->type] | (mode_t)e->mode;
    st->st_size = e->type == SS_FT_LNK && e->link ? (off_t)strlen(e->link) : (off_t)e->size;
    st->st_mtim.tv_sec = (time_t)e->mtime_sec;
    st->st_mtim.tv_nsec = e->mtime_nsec;
    st->st_uid = e->uid;
    st->st_gid = e->gid;
    st->st_nlink = e->type == SS_FT_DIR ? 2 : 1;
}

/* Apply ss_walk's options to a sorted listing, as ss_walk would have: the
 * filter sees every entry whose directory was kept (a refused directory
 * drops its contents unseen), "other" files are reported to `skipped`
 * unless kept, `finish` runs last. Without options, "other" files are
 * dropped silently (ss_walk with NULL options). */
int ss_walk_apply_opts(const ss_walk_opts *o, ss_entry_list *l, ss_err *err)
{
    size_t k = 0;
    char *dropped = NULL;   /* a refused directory: its contents follow it */
    size_t dlen = 0;
    for (size_t i = 0; i < l->n; i++) {
        ss_entry *e = &l->v[i];
        int keep = 1;
        if (dropped && strncmp(e->path, dropped, dlen) == 0 && e->path[dlen] == '/') {
            keep = 0;
        } else {
            free(dropped);
            dropped = NULL;
            if (o && o->filter) {
                struct stat st;
                ss_entry_stat(e, &st);
                if (!o->filter(o->ctx, e->path, &st)) {
                    keep = 0;
                    if (e->type == SS_FT_DIR) {
                        dropped = e->path;  /* taken over */
                        dlen = strlen(dropped);
                        e->path = NULL;
                    }
                }
            }
            if (keep && e->type == SS_FT_OTHER && !(o && o->keep_other)) {
                keep = 0;
                if (o && o->skipped)
                    o->skipped(o->ctx, e->path, "not a regular file, directory or symlink");
            }
        }
        if (keep) {
            l->v[k++] = *e;
        } else {
            free(e->path);
            free(e->link);
        }
    }
    free(dropped);
    l->n = k;
    if (o && o->finish && o->finish(o->ctx, l, err) < 0)
        return -1;
    return 0;
}
