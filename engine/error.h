/*
 * error.h — how every engine function reports failure.
 *
 * The engine never prints and never exits. A failing call fills an ss_err
 * with a category, the errno (if any) and a one-line message that names the
 * path and the reason, then returns -1. The CLI decides what to print and
 * which exit code follows.
 */
#ifndef SEGSYNC_ERROR_H
#define SEGSYNC_ERROR_H

#include <stddef.h>

typedef enum {
    SS_OK = 0,
    SS_EUSAGE,      /* bad arguments: paths overlap, target is a file, ... */
    SS_ESOURCE,     /* source missing, unreadable, or changed while read */
    SS_ETARGET,     /* target cannot be written (ENOSPC, EACCES, ...) */
    SS_ECHANGED,    /* a source file changed size while it was read */
    SS_EPROTO,      /* peer sent something malformed */
    SS_ECLUSTER,    /* PostgreSQL-level mismatch or precondition */
    SS_EINTERNAL
} ss_errkind;

typedef struct {
    ss_errkind kind;
    int sys_errno;          /* 0 when not a system error */
    char msg[1024];
} ss_err;

/* Set err and return -1. `fmt` describes what failed; when sys_errno != 0
 * ": strerror(sys_errno)" is appended. err may be NULL. */
int ss_seterr(ss_err *err, ss_errkind kind, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefix an existing message (e.g. "source HOST: "). */
void ss_err_prefix(ss_err *err, const char *prefix);

#endif
