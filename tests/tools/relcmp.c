/*
 * relcmp [-b BLCKSZ] DIR1 DIR2 — compare the relation files of two
 * PostgreSQL data directories block by block (an oracle for the rewind
 * tests: two trees rewound by different tools and replayed to the same
 * point must hold the same relation blocks). Independent of the engine:
 * names are matched here, files read with plain read().
 *
 * Relation files are the regular files named <digits>[_fsm|_vm|_init][.<digits>]
 * under global/, base/<db>/ and pg_tblspc/<oid>/<verdir>/<db>/ (the
 * pg_tblspc/<oid> entry is followed whether it is a link or an in-place
 * directory). For each relation file path found in either tree it prints
 *   ONLY1 path            / ONLY2 path     (present in one tree only)
 *   SIZE path n1 n2                         (sizes differ)
 *   DIFF path block lsn1 lsn2 nbytes first  (a differing block: both page
 *                                            LSNs, differing byte count and
 *                                            the first differing offset)
 * (at most 20 DIFF lines per file) and then "key value" totals:
 *   files_compared, files_compared_tblspc (those under pg_tblspc/),
 *   only1, only2, size_differ, blocks_compared,
 *   blocks_differ_main, blocks_differ_fsm, blocks_differ_vm,
 *   blocks_differ_init, files_differ_main, files_differ_fsm,
 *   files_differ_vm, files_differ_init.
 * Exit 0 when everything is equal, 1 when anything differs, 2 on error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tt_common.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>

typedef struct {
    char **v;
    size_t n, cap;
} strlist;

static void sl_add(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v)
            tt_die("out of memory");
    }
    l->v[l->n] = strdup(s);
    if (!l->v[l->n])
        tt_die("out of memory");
    l->n++;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* out = a/b; a path that does not fit is an error. */
static void pjoin(char out[PATH_MAX], const char *a, const char *b)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", a, b);
    if (n < 0 || n >= PATH_MAX)
        tt_die("path too long: %s/%s", a, b);
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* 0 main, 1 fsm, 2 vm, 3 init; -1 not a relation file name. */
static int relname_fork(const char *name)
{
    size_t n = strspn(name, "0123456789");
    if (n == 0)
        return -1;
    const char *p = name + n;
    int fork = 0;
    if (!strncmp(p, "_fsm", 4)) {
        fork = 1;
        p += 4;
    } else if (!strncmp(p, "_vm", 3)) {
        fork = 2;
        p += 3;
    } else if (!strncmp(p, "_init", 5)) {
        fork = 3;
        p += 5;
    }
    if (*p == 0)
        return fork;
    if (*p == '.' && all_digits(p + 1, strlen(p + 1)))
        return fork;
    return -1;
}

/* The relation files directly in root/rel (a database or global dir). */
static void scan_dbdir(const char *root, const char *rel, strlist *out)
{
    char path[PATH_MAX];
    pjoin(path, root, rel);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (relname_fork(e->d_name) < 0)
            continue;
        char fp[PATH_MAX], rp[PATH_MAX];
        pjoin(fp, path, e->d_name);
        struct stat st;
        if (lstat(fp, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        pjoin(rp, rel, e->d_name);
        sl_add(out, rp);
    }
    closedir(d);
}

/* Subdirectories of root/rel whose names are all digits (databases). */
static void scan_dbs(const char *root, const char *rel, strlist *out)
{
    char path[PATH_MAX];
    pjoin(path, root, rel);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!all_digits(e->d_name, strlen(e->d_name)))
            continue;
        char sub[PATH_MAX];
        pjoin(sub, rel, e->d_name);
        scan_dbdir(root, sub, out);
    }
    closedir(d);
}

static void scan_tree(const char *root, strlist *out)
{
    scan_dbdir(root, "global", out);
    scan_dbs(root, "base", out);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/pg_tblspc", root);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!all_digits(e->d_name, strlen(e->d_name)))
            continue;
        char sp[PATH_MAX];
        pjoin(sp, path, e->d_name);
        DIR *v = opendir(sp);       /* follows a link */
        if (!v)
            continue;
        struct dirent *ve;
        while ((ve = readdir(v))) {
            if (strncmp(ve->d_name, "PG_", 3) != 0)
                continue;
            char rel[PATH_MAX];
            char spc[PATH_MAX];
            pjoin(spc, "pg_tblspc", e->d_name);
            pjoin(rel, spc, ve->d_name);
            scan_dbs(root, rel, out);
        }
        closedir(v);
    }
    closedir(d);
    qsort(out->v, out->n, sizeof *out->v, cmp_str);
}

static uint64_t page_lsn(const unsigned char *p)
{
    uint32_t hi, lo;
    memcpy(&hi, p, 4);
    memcpy(&lo, p + 4, 4);
    return (uint64_t)hi << 32 | lo;
}

static size_t read_full(int fd, unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            tt_die("read");
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return got;
}

int main(int argc, char **argv)
{
    tt_prog = "relcmp";
    size_t bs = 8192;
    int a = 1;
    if (a + 1 < argc && !strcmp(argv[a], "-b")) {
        bs = strtoul(argv[a + 1], NULL, 10);
        a += 2;
    }
    if (argc - a != 2 || bs < 512 || bs > 65536)
        tt_die("usage: relcmp [-b BLCKSZ] DIR1 DIR2");
    const char *d1 = argv[a], *d2 = argv[a + 1];
    strlist l1 = { 0 }, l2 = { 0 };
    scan_tree(d1, &l1);
    scan_tree(d2, &l2);
    if (l1.n == 0 || l2.n == 0)
        tt_die("no relation files in %s", l1.n == 0 ? d1 : d2);
    unsigned char *b1 = malloc(bs), *b2 = malloc(bs);
    if (!b1 || !b2)
        tt_die("out of memory");
    uint64_t compared = 0, compared_tblspc = 0, only1 = 0, only2 = 0, size_differ = 0, blocks = 0;
    uint64_t bdiff[4] = { 0 }, fdiff[4] = { 0 };
    size_t i = 0, j = 0;
    while (i < l1.n || j < l2.n) {
        int c = i == l1.n ? 1 : j == l2.n ? -1 : strcmp(l1.v[i], l2.v[j]);
        if (c < 0) {
            printf("ONLY1 %s\n", l1.v[i++]);
            only1++;
            continue;
        }
        if (c > 0) {
            printf("ONLY2 %s\n", l2.v[j++]);
            only2++;
            continue;
        }
        const char *rel = l1.v[i];
        const char *base = strrchr(rel, '/') + 1;
        int fork = relname_fork(base);
        char p1[PATH_MAX], p2[PATH_MAX];
        pjoin(p1, d1, rel);
        pjoin(p2, d2, rel);
        int f1 = open(p1, O_RDONLY), f2 = open(p2, O_RDONLY);
        if (f1 < 0 || f2 < 0)
            tt_die("open %s", f1 < 0 ? p1 : p2);
        struct stat s1, s2;
        if (fstat(f1, &s1) < 0 || fstat(f2, &s2) < 0)
            tt_die("fstat %s", rel);
        compared++;
        compared_tblspc += !strncmp(rel, "pg_tblspc/", 10);
        int differs = 0;
        if (s1.st_size != s2.st_size) {
            printf("SIZE %s %lld %lld\n", rel, (long long)s1.st_size, (long long)s2.st_size);
            size_differ++;
            differs = 1;
        }
        unsigned shown = 0;
        for (uint64_t blk = 0;; blk++) {
            size_t n1 = read_full(f1, b1, bs), n2 = read_full(f2, b2, bs);
            size_t n = n1 < n2 ? n1 : n2;
            if (n == 0)
                break;
            blocks++;
            if (n1 == n2 && !memcmp(b1, b2, n))
                continue;
            size_t nd = 0, first = (size_t)-1;
            for (size_t k = 0; k < n; k++)
                if (b1[k] != b2[k]) {
                    nd++;
                    if (first == (size_t)-1)
                        first = k;
                }
            if (!nd && n1 == n2)
                continue;
            bdiff[fork]++;
            differs = 1;
            if (shown++ < 20)
                printf("DIFF %s %llu %X/%08X %X/%08X %zu %zu\n", rel, (unsigned long long)blk,
                       (unsigned)(page_lsn(b1) >> 32), (unsigned)page_lsn(b1),
                       (unsigned)(page_lsn(b2) >> 32), (unsigned)page_lsn(b2), nd,
                       first == (size_t)-1 ? (size_t)0 : first);
        }
        if (differs)
            fdiff[fork]++;
        close(f1);
        close(f2);
        i++;
        j++;
    }
    const char *fk[4] = { "main", "fsm", "vm", "init" };
    printf("files_compared %llu\nfiles_compared_tblspc %llu\nonly1 %llu\nonly2 %llu\n"
           "size_differ %llu\nblocks_compared %llu\n",
           (unsigned long long)compared, (unsigned long long)compared_tblspc,
           (unsigned long long)only1, (unsigned long long)only2,
           (unsigned long long)size_differ, (unsigned long long)blocks);
    for (int f = 0; f < 4; f++)
        printf("blocks_differ_%s %llu\nfiles_differ_%s %llu\n", fk[f],
               (unsigned long long)bdiff[f], fk[f], (unsigned long long)fdiff[f]);
    for (size_t k = 0; k < l1.n; k++)
        free(l1.v[k]);
    for (size_t k = 0; k < l2.n; k++)
        free(l2.v[k]);
    free(l1.v);
    free(l2.v);
    free(b1);
    free(b2);
    uint64_t any = only1 + only2 + size_differ;
    for (int f = 0; f < 4; f++)
        any += fdiff[f];
    return any ? 1 : 0;
}
