#include "cli/paths.h"

#include <errno.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int err_path(const char *what, const char *path, const char *why)
{
    fprintf(stderr, "segsync: error: %s %s: %s\n", what, path, why);
    return -1;
}

/* Canonical absolute form of path, which may not exist yet (its parent must). */
static char *canonical(const char *path)
{
    char *r = realpath(path, NULL);
    if (r || errno != ENOENT)
        return r;
    char *a = strdup(path), *b = strdup(path);
    char *res = NULL;
    if (a && b) {
        char *parent = realpath(dirname(a), NULL);
        const char *base = basename(b);
        if (parent && strcmp(base, ".") && strcmp(base, "..") &&
            (res = malloc(strlen(parent) + strlen(base) + 2)))
            sprintf(res, "%s/%s", strcmp(parent, "/") ? parent : "", base);
        free(parent);
    }
    free(a);
    free(b);
    return res;
}

static int inside(const char *a, const char *b)
{
    size_t n = strlen(b);
    if (n == 1 && b[0] == '/')
        return 1;
    return strncmp(a, b, n) == 0 && (a[n] == '/' || a[n] == 0);
}

int cli_check_paths(const char *source, const char *target)
{
    struct stat st;
    if (stat(source, &st) < 0)
        return err_path("source", source, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return err_path("source", source, "not a directory");
    if (access(source, R_OK | X_OK) < 0)
        return err_path("source", source, strerror(errno));
    if (stat(target, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return err_path("target", target, "exists and is not a directory");
    } else if (errno != ENOENT) {
        return err_path("target", target, strerror(errno));
    }
    char *s = canonical(source), *t = canonical(target);
    int rc = 0;
    if (!t)
        rc = err_path("target", target, "its parent directory does not exist");
    else if (!s)
        rc = err_path("source", source, strerror(errno));
    else if (!strcmp(s, t))
        rc = err_path("target", target, "is the same directory as the source");
    else if (inside(t, s))
        rc = err_path("target", target, "is inside the source");
    else if (inside(s, t))
        rc = err_path("source", source, "is inside the target");
    free(s);
    free(t);
    return rc;
}
