/* paths.h — checks on SOURCE and TARGET before anything runs. */
#ifndef SEGSYNC_CLI_PATHS_H
#define SEGSYNC_CLI_PATHS_H

#include <stddef.h>

/* 0 when SOURCE is a readable directory and TARGET is a directory or can be
 * created, and neither is, or is inside, the other. Otherwise writes one
 * error line naming the path and returns -1. */
int cli_check_paths(const char *source, const char *target);

#endif
