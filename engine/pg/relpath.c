/*
 * relpath.c — strict parsing of relation file paths, and the inverse.
 *
 * Every number is parsed by one function (`number`) that refuses leading
 * zeros, empty strings and values above 2^32-1; that is what makes
 * parse(format(x)) == x and format(parse(s)) == s hold.
 */
#include "engine/pg/relpath.h"

#include <stdio.h>
#include <string.h>

/* Parse decimal digits at *p up to the first non-digit. 1 and advance *p on
 * success; 0 when there are no digits, a leading zero (unless allow_zero
 * and the number is exactly "0"), or overflow. */
static int number(const char **p, uint32_t *out, int allow_zero)
{
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return 0;
    if (*s == '0') {
        if (!allow_zero || (s[1] >= '0' && s[1] <= '9'))
            return 0;
        *out = 0;
        *p = s + 1;
        return 1;
    }
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            return 0;
        s++;
    }
    *out = (uint32_t)v;
    *p = s;
    return 1;
}

/* A whole component that is an OID (1 .. 2^32-1), ending at '/' or NUL. */
static int oid_component(const char **p, uint32_t *out)
{
    const char *s = *p;
    if (!number(&s, out, 0) || (*s != '/' && *s != '\0'))
        return 0;
    *p = s;
    return 1;
}

static const struct { const char *suffix; ss_pg_fork fork; } forks[] = {
    { "_fsm", SS_PG_FORK_FSM },
    { "_vm", SS_PG_FORK_VM },
    { "_init", SS_PG_FORK_INIT },
};

const char *ss_pg_fork_suffix(ss_pg_fork f)
{
    for (size_t i = 0; i < sizeof forks / sizeof forks[0]; i++)
        if (forks[i].fork == f)
            return forks[i].suffix;
    return "";
}

int ss_pg_relname_parse(const char *name, ss_pg_relfile *out)
{
    const char *p = name;
    ss_pg_relfile r = { 0 };
    if (*p == 't') {
        p++;
        /* Backend numbers start at 0 in PostgreSQL 17 (ProcNumber). */
        if (!number(&p, &r.backend, 1) || *p != '_')
            return 0;
        p++;
        r.is_temp = 1;
    }
    if (!number(&p, &r.relfilenode, 0))
        return 0;
    r.fork = SS_PG_FORK_MAIN;
    if (*p == '_') {
        size_t i;
        for (i = 0; i < sizeof forks / sizeof forks[0]; i++) {
            size_t n = strlen(forks[i].suffix);
            if (strncmp(p, forks[i].suffix, n) == 0 && (p[n] == '.' || p[n] == '\0')) {
                r.fork = forks[i].fork;
                p += n;
                break;
            }
        }
        if (i == sizeof forks / sizeof forks[0])
            return 0;
    }
    r.segno = 0;
    if (*p == '.') {
        p++;
        if (!number(&p, &r.segno, 0))
            return 0;
    }
    if (*p != '\0')
        return 0;
    out->relfilenode = r.relfilenode;
    out->fork = r.fork;
    out->segno = r.segno;
    out->is_temp = r.is_temp;
    out->backend = r.backend;
    return 1;
}

int ss_pg_tblspc_verdir_ok(const char *name)
{
    const char *p;
    if (strncmp(name, "PG_", 3) == 0)
        p = name + 3;
    else if (strncmp(name, "GPDB_", 5) == 0)
        p = name + 5;
    else
        return 0;
    /* major: digits and dots ("9.6", "15"), starting with a digit */
    if (*p < '0' || *p > '9')
        return 0;
    while ((*p >= '0' && *p <= '9') || *p == '.')
        p++;
    if (*p++ != '_')
        return 0;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    return *p == '\0';
}

/* Match "pg_tblspc/<spcoid>/<verdir>/" or "base/" at *p; set spcoid and
 * (optionally) copy the version directory name. */
static int tablespace_prefix(const char **pp, uint32_t *spcoid, char *verdir, size_t vsize)
{
    const char *p = *pp;
    if (verdir && vsize)
        verdir[0] = '\0';
    if (strncmp(p, "base/", 5) == 0) {
        *spcoid = SS_PG_DEFAULTTABLESPACE_OID;
        *pp = p + 5;
        return 1;
    }
    if (strncmp(p, "pg_tblspc/", 10) != 0)
        return 0;
    p += 10;
    if (!oid_component(&p, spcoid) || *p != '/')
        return 0;
    p++;
    const char *slash = strchr(p, '/');
    if (!slash)
        return 0;
    size_t n = (size_t)(slash - p);
    char name[256];
    if (n >= sizeof name)
        return 0;
    memcpy(name, p, n);
    name[n] = '\0';
    if (!ss_pg_tblspc_verdir_ok(name))
        return 0;
    if (verdir) {
        if (n >= vsize)
            return 0;
        memcpy(verdir, name, n + 1);
    }
    *pp = slash + 1;
    return 1;
}

int ss_pg_dbdir_parse(const char *dir, uint32_t *spcoid, uint32_t *dboid)
{
    const char *p = dir;
    uint32_t spc, db;
    if (!tablespace_prefix(&p, &spc, NULL, 0))
        return 0;
    if (!oid_component(&p, &db) || *p != '\0')
        return 0;
    if (spcoid)
        *spcoid = spc;
    if (dboid)
        *dboid = db;
    return 1;
}

int ss_pg_relpath_parse(const char *path, ss_pg_relfile *out, char *verdir, size_t verdir_size)
{
    ss_pg_relfile r = { 0 };
    const char *p = path;
    if (strncmp(p, "global/", 7) == 0) {
        if (verdir && verdir_size)
            verdir[0] = '\0';
        r.spcoid = SS_PG_GLOBALTABLESPACE_OID;
        r.dboid = 0;
        p += 7;
        /* No temp relations among shared catalogs. */
        if (strchr(p, '/') || !ss_pg_relname_parse(p, &r) || r.is_temp)
            return 0;
        *out = r;
        return 1;
    }
    if (!tablespace_prefix(&p, &r.spcoid, verdir, verdir_size))
        return 0;
    if (!oid_component(&p, &r.dboid) || *p != '/')
        return 0;
    p++;
    if (strchr(p, '/') || !ss_pg_relname_parse(p, &r))
        return 0;
    *out = r;
    return 1;
}

int ss_pg_relpath_format(const ss_pg_relfile *r, const char *verdir, char *buf, size_t size)
{
    if (r->relfilenode == 0 || r->fork > SS_PG_FORK_INIT)
        return -1;
    char name[64];
    char seg[16] = "";
    if (r->segno)
        snprintf(seg, sizeof seg, ".%u", r->segno);
    if (r->is_temp)
        snprintf(name, sizeof name, "t%u_%u%s%s", r->backend, r->relfilenode,
                 ss_pg_fork_suffix(r->fork), seg);
    else
        snprintf(name, sizeof name, "%u%s%s", r->relfilenode, ss_pg_fork_suffix(r->fork), seg);

    int n;
    if (r->spcoid == SS_PG_GLOBALTABLESPACE_OID) {
        if (r->dboid != 0 || r->is_temp)
            return -1;
        n = snprintf(buf, size, "global/%s", name);
    } else if (r->dboid == 0) {
        return -1;
    } else if (r->spcoid == SS_PG_DEFAULTTABLESPACE_OID) {
        n = snprintf(buf, size, "base/%u/%s", r->dboid, name);
    } else {
        if (r->spcoid == 0 || !verdir || !ss_pg_tblspc_verdir_ok(verdir))
            return -1;
        n = snprintf(buf, size, "pg_tblspc/%u/%s/%u/%s", r->spcoid, verdir, r->dboid, name);
    }
    if (n < 0 || (size_t)n >= size)
        return -1;
    return n;
}
