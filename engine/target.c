#include "engine/target.h"
#include "engine/pathsafe.h"
#include "engine/plan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

struct ss_target {
    int rootfd;
    char *root;
    ss_target_opts o;
};

int ss_target_open(ss_target **out, const char *root, const ss_target_opts *o, ss_err *err)
{
    struct stat st;
    if (lstat(root, &st) < 0) {
        if (errno != ENOENT || !o->create_root)
            return ss_seterr(err, SS_EUSAGE, errno, "target %s", root);
        if (mkdir(root, 0700) < 0)
            return ss_seterr(err, SS_ETARGET, errno, "cannot create target directory %s", root);
    } else if (S_ISLNK(st.st_mode)) {
        /* The root itself may be a symlink (a tablespace); follow it once. */
        if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode))
            return ss_seterr(err, SS_EUSAGE, ENOTDIR, "target %s", root);
    } else if (!S_ISDIR(st.st_mode)) {
        return ss_seterr(err, SS_EUSAGE, ENOTDIR, "target %s is not a directory", root);
    }
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ss_seterr(err, SS_ETARGET, errno, "cannot open target %s", root);
    ss_target *t = calloc(1, sizeof *t);
    if (!t || !(t->root = strdup(root))) {
        free(t);
        close(fd);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    }
    t->rootfd = fd;
    t->o = *o;
    *out = t;
    return 0;
}

void ss_target_close(ss_target *t)
{
    if (!t)
        return;
    close(t->rootfd);
    free(t->root);
    free(t);
}

int ss_target_rootfd(const ss_target *t) { return t->rootfd; }
const char *ss_target_root(const ss_target *t) { return t->root; }

/* A directory of ours that is read-only (mode 0555 in the source, or left
 * so by a user) still has to take new entries and lose old ones: give the
 * owner write and search permission. finish_dirs sets the final mode once
 * the contents are done. Returns 1 when something was changed. */
static int make_writable(int dfd)
{
    struct stat st;
    if (fstat(dfd, &st) < 0 || (st.st_mode & S_IRWXU) == S_IRWXU)
        return 0;
    return fchmod(dfd, (st.st_mode & 07777) | S_IRWXU) == 0;
}

/* Remove everything inside the directory dfd (not dfd itself). */
static int empty_dir(int dfd, const char *what, ss_err *err)
{
    make_writable(dfd);
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return ss_seterr(err, SS_ETARGET, errno, "cannot read directory %s", what);
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0 || errno == ENOENT)
            continue;
        if (errno != EISDIR && errno != EPERM)
            return closedir(d), ss_seterr(err, SS_ETARGET, errno, "cannot remove %s/%s", what, de->d_name);
        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
            rc = ss_seterr(err, SS_ETARGET, errno, "cannot remove %s/%s", what, de->d_name);
            break;
        }
        rc = empty_dir(sub, what, err);
        close(sub);
        if (rc == 0 && unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            rc = ss_seterr(err, SS_ETARGET, errno, "cannot remove directory %s/%s", what, de->d_name);
        /* readdir after removals is fine: entries already seen stay seen. */
    }
    closedir(d);
    return rc;
}

int ss_target_remove(ss_target *t, const char *rel, ss_err *err)
{
    const char *base;
    int pfd = ss_open_parent(t->rootfd, rel, &base);
    if (pfd < 0) {
        if (pfd == -ENOENT)
            return 0;
        return ss_seterr(err, SS_ETARGET, -pfd, "cannot open parent of %s/%s", t->root, rel);
    }
    int rc = 0;
    int r = unlinkat(pfd, base, 0);
    if (r < 0 && errno == EACCES && make_writable(pfd))
        r = unlinkat(pfd, base, 0);
    if (r < 0 && errno != ENOENT) {
        if (errno != EISDIR && errno != EPERM) {
            rc = ss_seterr(err, SS_ETARGET, errno, "cannot remove %s/%s", t->root, rel);
        } else {
            int dfd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (dfd < 0) {
                rc = ss_seterr(err, SS_ETARGET, errno, "cannot remove %s/%s", t->root, rel);
            } else {
                char what[4096];
                snprintf(what, sizeof what, "%s/%s", t->root, rel);
                rc = empty_dir(dfd, what, err);
                close(dfd);
                if (rc == 0 && unlinkat(pfd, base, AT_REMOVEDIR) < 0 && errno != ENOENT)
                    rc = ss_seterr(err, SS_ETARGET, errno, "cannot remove directory %s/%s", t->root, rel);
            }
        }
    }
    close(pfd);
    return rc;
}

int ss_target_mkdir(ss_target *t, const char *rel, ss_err *err)
{
    const char *base;
    int pfd = ss_open_parent(t->rootfd, rel, &base);
    if (pfd < 0)
        return ss_seterr(err, SS_ETARGET, -pfd, "cannot open parent of %s/%s", t->root, rel);
    int rc = 0;
    int r = mkdirat(pfd, base, 0700);
    if (r < 0 && errno == EACCES && make_writable(pfd))
        r = mkdirat(pfd, base, 0700);
    if (r < 0 && errno != EEXIST)
        rc = ss_seterr(err, SS_ETARGET, errno, "cannot create directory %s/%s", t->root, rel);
    close(pfd);
    return rc;
}

static int chown_for(const ss_target *t, const ss_entry *src, uid_t *uid, gid_t *gid)
{
    switch (t->o.owner) {
    case SS_OWNER_SOURCE: *uid = src->uid; *gid = src->gid; return 1;
    case SS_OWNER_FIXED: *uid = t->o.fixed_uid; *gid = t->o.fixed_gid; return 1;
    default: return 0;
    }
}

int ss_target_open_update(ss_target *t, const char *rel, int readonly, int *chmodded,
                          ss_err *err)
{
    if (chmodded)
        *chmodded = 0;
    int fd = ss_open_beneath(t->rootfd, rel, readonly ? O_RDONLY : O_RDWR, 0);
    if (fd == -EACCES && !readonly) {
        /* A read-only file we own (mode 0444): make it writable; its final
         * mode is set again when the update is done. */
        int ro = ss_open_beneath(t->rootfd, rel, O_RDONLY, 0);
        if (ro >= 0) {
            struct stat st;
            if (fstat(ro, &st) == 0 &&
                fchmod(ro, (st.st_mode & 07777) | S_IWUSR | S_IRUSR) == 0 && chmodded)
                *chmodded = 1;
            close(ro);
            fd = ss_open_beneath(t->rootfd, rel, O_RDWR, 0);
        }
    }
    if (fd < 0)
        return ss_seterr(err, SS_ETARGET, -fd, "cannot open target file %s/%s", t->root, rel);
    return fd;
}

int ss_target_is_tmp_name(const char *name)
{
    return strncmp(name, ".segsync.", 9) == 0 && strlen(name) == 9 + 16 + 4 &&
           !strcmp(name + 25, ".tmp");
}

/* The temporary name for REL, in REL's directory. A fixed-length name keeps
 * it within NAME_MAX whatever the final name's length; the hash keeps names
 * in one directory apart. */
static char *tmp_name_for(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    size_t dirlen = slash ? (size_t)(slash - rel) + 1 : 0;
    char *tmp = malloc(dirlen + 32);
    if (!tmp)
        return NULL;
    memcpy(tmp, rel, dirlen);
    snprintf(tmp + dirlen, 32, ".segsync.%016llx.tmp", (unsigned long long)XXH3_64bits(rel, strlen(rel)));
    return tmp;
}

int ss_target_create_tmp(ss_target *t, const char *rel, char **tmprel, ss_err *err)
{
    char *tmp = tmp_name_for(rel);
    if (!tmp)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    int fd = ss_open_beneath(t->rootfd, tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd == -EACCES) {
        const char *b;
        int pfd = ss_open_parent(t->rootfd, tmp, &b);
        if (pfd >= 0) {
            if (make_writable(pfd))
                fd = ss_open_beneath(t->rootfd, tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
            close(pfd);
        }
    }
    if (fd == -ELOOP || fd == -EISDIR) {
        /* Something odd sits under our temporary name: clear it. */
        ss_target_remove(t, tmp, NULL);
        fd = ss_open_beneath(t->rootfd, tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
    }
    if (fd < 0) {
        free(tmp);
        return ss_seterr(err, SS_ETARGET, -fd, "cannot create file in target %s for %s", t->root, rel);
    }
    *tmprel = tmp;
    return fd;
}

int ss_target_commit_tmp(ss_target *t, const char *tmprel, const char *rel, ss_err *err)
{
    const char *base, *tbase;
    int pfd = ss_open_parent(t->rootfd, rel, &base);
    if (pfd < 0)
        return ss_seterr(err, SS_ETARGET, -pfd, "cannot open parent of %s/%s", t->root, rel);
    tbase = strrchr(tmprel, '/');
    tbase = tbase ? tbase + 1 : tmprel;
    int rc = 0;
    int r = renameat(pfd, tbase, pfd, base);
    if (r < 0 && errno == EACCES && make_writable(pfd))
        r = renameat(pfd, tbase, pfd, base);
    if (r < 0)
        rc = ss_seterr(err, SS_ETARGET, errno, "cannot rename into place %s/%s", t->root, rel);
    close(pfd);
    return rc;
}

void ss_target_discard_tmp(ss_target *t, const char *tmprel)
{
    const char *base;
    int pfd = ss_open_parent(t->rootfd, tmprel, &base);
    if (pfd >= 0) {
        unlinkat(pfd, base, 0);
        close(pfd);
    }
}

/* A symlink cannot be opened: its owner and mtime are set through its
 * parent (PFD, name BASE; REL names it in errors). */
static int link_meta_at(ss_target *t, int pfd, const char *base, const char *rel,
                        const ss_entry *src, unsigned what, ss_err *err)
{
    uid_t u;
    gid_t g;
    if ((what & SS_META_OWNER) && chown_for(t, src, &u, &g) &&
        fchownat(pfd, base, u, g, AT_SYMLINK_NOFOLLOW) < 0)
        return ss_seterr(err, SS_ETARGET, errno, "cannot set owner of %s/%s", t->root, rel);
    if (what & SS_META_MTIME) {
        struct timespec ts[2] = {
            { .tv_nsec = UTIME_OMIT },
            { .tv_sec = src->mtime_sec, .tv_nsec = src->mtime_nsec },
        };
        /* Best effort, as before: a link's time is cosmetic, and a
         * filesystem without link times must not fail a recovery. */
        (void)utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
    }
    return 0;
}

static int set_link_meta(ss_target *t, const char *rel, const ss_entry *src, unsigned what,
                         ss_err *err)
{
    const char *base;
    int pfd = ss_open_parent(t->rootfd, rel, &base);
    if (pfd < 0)
        return ss_seterr(err, SS_ETARGET, -pfd, "cannot open parent of %s/%s", t->root, rel);
    int rc = link_meta_at(t, pfd, base, rel, src, what, err);
    close(pfd);
    return rc;
}

int ss_target_symlink(ss_target *t, const char *rel, const char *link, const ss_entry *src,
                      ss_err *err)
{
    /* Made under a temporary name, given the link's own owner and mtime (as
     * rsync -a keeps them), then renamed into place: a run killed at any
     * moment leaves no link or a finished one, never a link with the right
     * text and the wrong time, which a rerun would take as done. */
    char *tmp = tmp_name_for(rel);
    if (!tmp)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    const char *tbase = strrchr(tmp, '/');
    tbase = tbase ? tbase + 1 : tmp;
    const char *base;
    int pfd = ss_open_parent(t->rootfd, rel, &base);
    if (pfd < 0) {
        free(tmp);
        return ss_seterr(err, SS_ETARGET, -pfd, "cannot open parent of %s/%s", t->root, rel);
    }
    int r = symlinkat(link, pfd, tbase);
    if (r < 0 && errno == EACCES && make_writable(pfd))
        r = symlinkat(link, pfd, tbase);
    if (r < 0 && errno == EEXIST) {
        /* Left by a run that was killed: ours to clear. */
        ss_target_remove(t, tmp, NULL);
        r = symlinkat(link, pfd, tbase);
    }
    int rc = 0;
    if (r < 0)
        rc = ss_seterr(err, SS_ETARGET, errno, "cannot create symlink %s/%s", t->root, rel);
    if (rc == 0 && src)
        rc = link_meta_at(t, pfd, tbase, rel, src, SS_META_OWNER | SS_META_MTIME, err);
    if (rc == 0 && renameat(pfd, tbase, pfd, base) < 0)
        rc = ss_seterr(err, SS_ETARGET, errno, "cannot rename symlink into place %s/%s", t->root, rel);
    if (rc < 0 && r == 0)
        unlinkat(pfd, tbase, 0);
    close(pfd);
    free(tmp);
    return rc;
}

int ss_target_set_meta(ss_target *t, int fd, const char *rel, const ss_entry *src,
                       unsigned what, ss_err *err)
{
    if (src->type == SS_FT_LNK)
        return set_link_meta(t, rel, src, what, err);
    int own = -1;
    if (fd < 0) {
        own = ss_open_beneath(t->rootfd, rel, O_RDONLY | (src->type == SS_FT_DIR ? O_DIRECTORY : 0), 0);
        if (own < 0)
            return ss_seterr(err, SS_ETARGET, -own, "cannot open %s/%s", t->root, rel);
        fd = own;
    }
    int rc = 0;
    uid_t u;
    gid_t g;
    /* Owner before mode: chown clears set-user-ID bits. */
    if ((what & SS_META_OWNER) && chown_for(t, src, &u, &g) && fchown(fd, u, g) < 0)
        rc = ss_seterr(err, SS_ETARGET, errno, "cannot set owner of %s/%s", t->root, rel);
    if (rc == 0 && (what & (SS_META_MODE | SS_META_OWNER)) && fchmod(fd, src->mode) < 0)
        rc = ss_seterr(err, SS_ETARGET, errno, "cannot set mode of %s/%s", t->root, rel);
    if (rc == 0 && (what & SS_META_MTIME)) {
        struct timespec ts[2] = {
            { .tv_nsec = UTIME_OMIT },
            { .tv_sec = src->mtime_sec, .tv_nsec = src->mtime_nsec },
        };
        if (futimens(fd, ts) < 0)
            rc = ss_seterr(err, SS_ETARGET, errno, "cannot set mtime of %s/%s", t->root, rel);
    }
    if (own >= 0)
        close(own);
    return rc;
}

int ss_target_sync(ss_target *t, ss_err *err)
{
    if (syncfs(t->rootfd) < 0)
        return ss_seterr(err, SS_ETARGET, errno, "cannot flush target %s to disk", t->root);
    if (fsync(t->rootfd) < 0)
        return ss_seterr(err, SS_ETARGET, errno, "cannot flush target directory %s", t->root);
    return 0;
}
