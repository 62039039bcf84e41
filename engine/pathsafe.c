#include "engine/pathsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int ss_path_is_safe(const char *rel)
{
    if (!rel || !*rel || rel[0] == '/')
        return 0;
    const char *p = rel;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!slash)
            return 1;
        p = slash + 1;
    }
}

/* Component by component with O_NOFOLLOW, for kernels without openat2. */
static int open_walk(int rootfd, const char *rel, int flags, mode_t mode)
{
    char *copy = strdup(rel);
    if (!copy)
        return -ENOMEM;
    int dfd = dup(rootfd);
    if (dfd < 0) {
        free(copy);
        return -errno;
    }
    char *p = copy;
    for (;;) {
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = 0;
        int nfd = openat(dfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(dfd);
        if (nfd < 0) {
            free(copy);
            return -(e == ENOTDIR ? ELOOP : e);
        }
        dfd = nfd;
        p = slash + 1;
    }
    int fd = openat(dfd, p, flags | O_NOFOLLOW | O_CLOEXEC, mode);
    int e = errno;
    close(dfd);
    free(copy);
    return fd < 0 ? -e : fd;
}

int ss_open_beneath(int rootfd, const char *rel, int flags, mode_t mode)
{
    if (!ss_path_is_safe(rel))
        return -EINVAL;
    struct open_how how = {
        .flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
    if (fd >= 0)
        return (int)fd;
    if (errno == ENOSYS || errno == EPERM)
        return open_walk(rootfd, rel, flags, mode);
    return -errno;
}

int ss_open_parent(int rootfd, const char *rel, const char **base)
{
    if (!ss_path_is_safe(rel))
        return -EINVAL;
    const char *slash = strrchr(rel, '/');
    if (!slash) {
        *base = rel;
        int fd = dup(rootfd);
        return fd < 0 ? -errno : fd;
    }
    *base = slash + 1;
    char *dir = strndup(rel, (size_t)(slash - rel));
    if (!dir)
        return -ENOMEM;
    int fd = ss_open_beneath(rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
    free(dir);
    return fd;
}
