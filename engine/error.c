#include "engine/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ss_seterr(ss_err *err, ss_errkind kind, int sys_errno, const char *fmt, ...)
{
    if (!err)
        return -1;
    err->kind = kind;
    err->sys_errno = sys_errno;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if (sys_errno && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", strerror(sys_errno));
    return -1;
}

void ss_err_prefix(ss_err *err, const char *prefix)
{
    if (!err)
        return;
    char tmp[sizeof err->msg];
    snprintf(tmp, sizeof tmp, "%s%s", prefix, err->msg);
    memcpy(err->msg, tmp, sizeof tmp);
}
