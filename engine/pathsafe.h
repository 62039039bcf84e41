/*
 * pathsafe.h — open things strictly beneath a root directory.
 *
 * Paths handed to these functions are relative, have no "." or ".."
 * component and no empty component; every intermediate component must be a
 * real directory (a symlink anywhere in the path is refused, ELOOP), so
 * nothing is ever read or written outside the root through a symlink.
 */
#ifndef SEGSYNC_PATHSAFE_H
#define SEGSYNC_PATHSAFE_H

#include <sys/types.h>

/* 1 when rel is a relative path with no empty, "." or ".." component. */
int ss_path_is_safe(const char *rel);

/* openat beneath rootfd without following any symlink. Returns fd or -errno. */
int ss_open_beneath(int rootfd, const char *rel, int flags, mode_t mode);

/* Open the directory that contains rel (rootfd itself duplicated when rel has
 * one component) and point *base at rel's last component. fd or -errno. */
int ss_open_parent(int rootfd, const char *rel, const char **base);

#endif
