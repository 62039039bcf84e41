/*
 * exclude.c — the exclusion lists, and the unlogged-relation pass.
 *
 * Where each rule comes from:
 * - dir_contents: basebackup.c excludeDirContents. Those directories are
 *   emptied or rebuilt at server start; the directory itself is kept so its
 *   permissions survive. PostgreSQL matches the name at any depth; like
 *   pg_rewind we match the top level only, where they live.
 * - files: basebackup.c excludeFiles (matched by name at any depth, as
 *   PostgreSQL does) plus backup_label.old / tablespace_map.old, which
 *   recovery leaves behind and which belong to an earlier backup.
 * - "pgsql_tmp" prefix: PG_TEMP_FILE_PREFIX, files and directories, anywhere.
 * - t<N>_<relfilenode>...: temporary relations, in database directories.
 * - pg_wal: optional, see ss_pg_exclude_opts.skip_wal.
 * - Greenplum: gprecoverseg excludes log/ and backups/ contents, db_dumps,
 *   promote, and the per-instance internal.auto.conf.
 */
#include "engine/pg/exclude.h"
#include "engine/pg/relpath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const dir_contents[] = {
    "pg_stat_tmp",      /* statistics temp files (pg_stat_statements too) */
    "pg_replslot",      /* slots are per server */
    "pg_dynshmem",      /* removed at startup */
    "pg_notify",        /* removed at startup */
    "pg_serial",        /* not needed for normal operation */
    "pg_snapshots",     /* exported snapshots removed at startup */
    "pg_subtrans",      /* zeroed at startup */
};

/* Exact names, any depth. */
static const char *const files[] = {
    "postgresql.auto.conf.tmp",     /* ALTER SYSTEM's temporary file */
    "current_logfiles.tmp",         /* logging collector's temporary file */
    "backup_label",                 /* segsync writes its own */
    "backup_label.old",
    "tablespace_map",
    "tablespace_map.old",
    "backup_manifest",              /* belongs to the backup that made the source */
    "postmaster.pid",
    "postmaster.opts",
};

/* Name prefixes, any depth. */
static const char *const prefixes[] = {
    "pg_internal.init",     /* relcache init file, rebuilt at startup */
    "pgsql_tmp",            /* temporary files and directories */
};

static const char *const gp_dir_contents[] = { "log", "backups" };
static const char *const gp_top[] = { "db_dumps", "promote" };

#define PROTECTED_FILE "internal.auto.conf"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int in_list(const char *const *list, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && strncmp(list[i], s, len) == 0)
            return 1;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

const char *ss_pg_exclude_reason(const ss_pg_exclude_opts *o, const char *path, int is_dir)
{
    static const ss_pg_exclude_opts none = { 0 };
    if (!o)
        o = &none;
    const char *slash = strchr(path, '/');
    size_t toplen = slash ? (size_t)(slash - path) : strlen(path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;

    /* Rules on any component: a pgsql_tmp directory hides everything under it. */
    for (const char *c = path; c;) {
        if (strncmp(c, "pgsql_tmp", 9) == 0)
            return "temporary file (pgsql_tmp)";
        c = strchr(c, '/');
        if (c)
            c++;
    }
    for (size_t i = 0; i < N(prefixes); i++)
        if (strncmp(base, prefixes[i], strlen(prefixes[i])) == 0)
            return "rebuilt at startup or temporary";
    if (in_list(files, N(files), base, strlen(base)))
        return "excluded from base backups";

    /* Top-level rules. */
    if (slash && in_list(dir_contents, N(dir_contents), path, toplen))
        return "contents rebuilt at server start";
    if (!slash && strcmp(path, PROTECTED_FILE) == 0)
        return "per-instance configuration";
    if (!slash && !is_dir && ends_with(path, ".conf.tmp"))
        return "temporary configuration file";
    if (o->skip_wal && slash && toplen == 6 && strncmp(path, "pg_wal", 6) == 0) {
        /* Keep pg_wal/archive_status itself, nothing else. */
        if (!(strcmp(path, "pg_wal/archive_status") == 0 && is_dir))
            return "WAL is handled separately";
    }
    if (o->greenplum) {
        if (slash && in_list(gp_dir_contents, N(gp_dir_contents), path, toplen))
            return "Greenplum: per-instance logs and backups";
        if (in_list(gp_top, N(gp_top), path, toplen))
            return "Greenplum: per-instance file";
    }

    /* Temporary relations: only meaningful inside a database directory. */
    if (!is_dir && base != path) {
        size_t dlen = (size_t)(base - 1 - path);
        char dir[4096];
        if (dlen < sizeof dir) {
            memcpy(dir, path, dlen);
            dir[dlen] = '\0';
            ss_pg_relfile r;
            if (ss_pg_dbdir_parse(dir, NULL, NULL) && ss_pg_relname_parse(base, &r) && r.is_temp)
                return "temporary relation";
        }
    }
    return NULL;
}

int ss_pg_exclude_filter(void *ctx, const char *path, const struct stat *st)
{
    const ss_pg_exclude_opts *o = ctx;
    const char *why = ss_pg_exclude_reason(o, path, st && S_ISDIR(st->st_mode));
    if (!why)
        return 1;
    if (o && o->skipped)
        o->skipped(o->skipped_ctx, path, why);
    return 0;
}

int ss_pg_protected_on_target(const char *path)
{
    return strcmp(path, PROTECTED_FILE) == 0;
}

/* "dir/relfilenode" keys of the init forks, sorted for bsearch. */
static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Build "dir/relfilenode" for a non-temporary relation file of a database
 * directory, or return NULL (not one; or out of memory, then *oom is set). */
static char *unlogged_key(const char *path, ss_pg_relfile *r, int *oom)
{
    const char *base = strrchr(path, '/');
    char dir[4096];
    if (!base || (size_t)(base - path) >= sizeof dir)
        return NULL;
    size_t dlen = (size_t)(base - path);
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
    if (!ss_pg_dbdir_parse(dir, NULL, NULL) || !ss_pg_relname_parse(base + 1, r) || r->is_temp)
        return NULL;
    size_t n = dlen + 1 + 11;
    char *key = malloc(n);
    if (!key) {
        *oom = 1;
        return NULL;
    }
    snprintf(key, n, "%s/%u", dir, r->relfilenode);
    return key;
}

long ss_pg_drop_unlogged(ss_entry_list *l, const ss_pg_exclude_opts *o, ss_err *err)
{
    char **keys = NULL;
    size_t nkeys = 0, cap = 0;
    int oom = 0;
    long dropped = 0;

    for (size_t i = 0; i < l->n && !oom; i++) {
        ss_pg_relfile r;
        char *key = unlogged_key(l->v[i].path, &r, &oom);
        if (!key)
            continue;
        if (r.fork != SS_PG_FORK_INIT || r.segno != 0) {
            free(key);
            continue;
        }
        if (nkeys == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nk = realloc(keys, ncap * sizeof *nk);
            if (!nk) {
                free(key);
                oom = 1;
                break;
            }
            keys = nk;
            cap = ncap;
        }
        keys[nkeys++] = key;
    }
    if (!oom && nkeys) {
        qsort(keys, nkeys, sizeof *keys, key_cmp);
        size_t w = 0;
        for (size_t i = 0; i < l->n; i++) {
            ss_entry *e = &l->v[i];
            ss_pg_relfile r;
            int drop = 0;
            if (!oom) {
                char *key = unlogged_key(e->path, &r, &oom);
                if (key) {
                    drop = r.fork != SS_PG_FORK_INIT &&
                           bsearch(&key, keys, nkeys, sizeof *keys, key_cmp) != NULL;
                    free(key);
                }
            }
            if (drop) {
                if (o && o->skipped)
                    o->skipped(o->skipped_ctx, e->path, "unlogged relation (init fork present)");
                free(e->path);
                free(e->link);
                dropped++;
                continue;
            }
            l->v[w++] = *e;
        }
        l->n = w;
    }
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(keys);
    if (oom)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory while filtering unlogged relations");
    return dropped;
}
