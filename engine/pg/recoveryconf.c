#include "engine/pg/recoveryconf.h"
#include "engine/pathsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ss_pg_write_file(int rootfd, const char *root_name, const char *rel, const void *data,
                     size_t len, uid_t uid, gid_t gid, ss_err *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.segsync-new", rel);
    int fd = ss_open_beneath(rootfd, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return ss_seterr(err, SS_ETARGET, -fd, "cannot create %s/%s", root_name, tmp);
    int rc = 0;
    if (write_all(fd, data, len) < 0)
        rc = ss_seterr(err, SS_ETARGET, errno, "cannot write %s/%s", root_name, rel);
    else if (uid != (uid_t)-1 && fchown(fd, uid, gid) < 0)
        rc = ss_seterr(err, SS_ETARGET, errno, "cannot set owner of %s/%s", root_name, rel);
    else if (fsync(fd) < 0)
        rc = ss_seterr(err, SS_ETARGET, errno, "cannot flush %s/%s", root_name, rel);
    close(fd);
    if (rc == 0 && renameat(rootfd, tmp, rootfd, rel) < 0)
        rc = ss_seterr(err, SS_ETARGET, errno, "cannot rename into place %s/%s", root_name, rel);
    if (rc < 0)
        unlinkat(rootfd, tmp, 0);
    else if (fsync(rootfd) < 0)
        rc = ss_seterr(err, SS_ETARGET, errno, "cannot flush %s", root_name);
    return rc;
}

char *ss_pg_conf_quote(const char *v)
{
    size_t n = 3;
    for (const char *p = v; *p; p++)
        n += *p == '\'' ? 2 : 1;
    char *q = malloc(n), *o = q;
    if (!q)
        return NULL;
    *o++ = '\'';
    for (const char *p = v; *p; p++) {
        if (*p == '\'')
            *o++ = '\'';
        *o++ = *p;
    }
    *o++ = '\'';
    *o = 0;
    return q;
}

int ss_pg_write_standby_conf(int rootfd, const char *root_name, const char *conninfo,
                             const char *slot, uid_t uid, gid_t gid, ss_err *err)
{
    if (ss_pg_write_file(rootfd, root_name, "standby.signal", "", 0, uid, gid, err) < 0)
        return -1;
    /* Keep what postgresql.auto.conf holds (it came from the source) and
     * append our settings: the last occurrence of a setting wins. */
    char *old = NULL;
    size_t oldlen = 0;
    int fd = ss_open_beneath(rootfd, "postgresql.auto.conf", O_RDONLY, 0);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size < (16 << 20) && (old = malloc((size_t)st.st_size + 1))) {
            ssize_t n = pread(fd, old, (size_t)st.st_size, 0);
            oldlen = n > 0 ? (size_t)n : 0;
        }
        close(fd);
    } else if (fd != -ENOENT) {
        return ss_seterr(err, SS_ETARGET, -fd, "cannot read %s/postgresql.auto.conf", root_name);
    }
    char *qc = ss_pg_conf_quote(conninfo), *qs = slot ? ss_pg_conf_quote(slot) : NULL;
    size_t cap = oldlen + strlen(qc ? qc : "") + (qs ? strlen(qs) : 0) + 128;
    char *buf = malloc(cap);
    int rc;
    if (!qc || (slot && !qs) || !buf) {
        rc = ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    } else {
        size_t n = 0;
        if (oldlen) {
            memcpy(buf, old, oldlen);
            n = oldlen;
            if (buf[n - 1] != '\n')
                buf[n++] = '\n';
        }
        n += (size_t)snprintf(buf + n, cap - n, "primary_conninfo = %s\n", qc);
        /* Without a slot, say so: a primary_slot_name inherited from the
         * source's own configuration names the source's upstream slot. */
        n += (size_t)snprintf(buf + n, cap - n, "primary_slot_name = %s\n", qs ? qs : "''");
        rc = ss_pg_write_file(rootfd, root_name, "postgresql.auto.conf", buf, n, uid, gid, err);
    }
    free(old);
    free(qc);
    free(qs);
    free(buf);
    return rc;
}
