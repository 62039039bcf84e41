/*
 * blockdiff [-f] [-v] BS SRC DST — the expected transfer of a raw sync,
 * computed independently of the engine (plain lstat/read/memcmp).
 *
 * For every regular file of SRC (symlinks, special files not counted):
 *  - new to DST, or DST has another type there, or some ancestor of it in DST
 *    is not a real directory (a symlink is replaced, never followed), or the
 *    DST file has other hard links (it is replaced, never written in place),
 *    or -f (full mode): its whole size is transferred;
 *  - else, for each source block i (bytes [i*BS, min((i+1)*BS, size))), the
 *    block's length counts when DST does not hold exactly those bytes at that
 *    offset (DST shorter: differs); blocks_changed counts such blocks.
 * Prints "key value" lines:
 *   bytes_total        sum of SRC regular file sizes
 *   bytes_transferred  as above
 *   blocks_changed     differing blocks of files present in both
 *   files_new          files copied whole
 *   files_differ       files in both whose blocks or size differ
 *   files_same         files in both with equal content and size
 * -v also lists each counted file on stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tt_common.h"

#include <dirent.h>
#include <limits.h>

static size_t bs;
static int full_mode, verbose;
static uint64_t bytes_total, bytes_transferred, blocks_changed;
static uint64_t files_new, files_differ, files_same;
static unsigned char *sbuf, *dbuf;
static size_t chunk;

static char *join(const char *a, const char *b)
{
    return tt_join(a, b);
}

static void compare_file(const char *sp, const char *dp, uint64_t ssize, const char *rel)
{
    int sfd = open(sp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (sfd < 0)
        tt_die("open %s", sp);
    int dfd = open(dp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (dfd < 0)
        tt_die("open %s", dp);
    struct stat dst;
    if (fstat(dfd, &dst) < 0)
        tt_die("fstat %s", dp);
    uint64_t off = 0, tr = 0, nb = 0;
    for (;;) {
        size_t sn = tt_read_full(sfd, sbuf, chunk, sp);
        size_t dn = tt_read_full(dfd, dbuf, chunk, dp);
        for (size_t b = 0; b < sn; b += bs) {
            size_t len = sn - b < bs ? sn - b : bs;
            if (b + len > dn || memcmp(sbuf + b, dbuf + b, len) != 0) {
                tr += len;
                nb++;
            }
        }
        off += sn;
        if (sn < chunk)
            break;
    }
    close(sfd);
    close(dfd);
    if (off != ssize)
        tt_die("%s changed size while read (%llu != %llu)", sp, (unsigned long long)off,
               (unsigned long long)ssize);
    bytes_transferred += tr;
    blocks_changed += nb;
    if (nb || (uint64_t)dst.st_size != ssize) {
        files_differ++;
        if (verbose) {
            fprintf(stderr, "update %llu bytes %llu blocks (dst size %llu): ",
                    (unsigned long long)tr, (unsigned long long)nb,
                    (unsigned long long)dst.st_size);
            tt_print_path(stderr, rel);
            fputc('\n', stderr);
        }
    } else {
        files_same++;
    }
}

/* dp == NULL: nothing of SRC's subtree exists in DST as such. */
static void walk(const char *sp, const char *dp, const char *rel)
{
    DIR *d = opendir(sp);
    if (!d)
        tt_die("opendir %s", sp);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *s = join(sp, de->d_name);
        char *r = rel[0] ? join(rel, de->d_name) : tt_strdup(de->d_name);
        char *t = dp ? join(dp, de->d_name) : NULL;
        struct stat ss, ts;
        if (lstat(s, &ss) < 0)
            tt_die("lstat %s", s);
        int have = t && lstat(t, &ts) == 0;
        if (t && !have && errno != ENOENT && errno != ENOTDIR)
            tt_die("lstat %s", t);
        if (S_ISDIR(ss.st_mode)) {
            walk(s, have && S_ISDIR(ts.st_mode) ? t : NULL, r);
        } else if (S_ISREG(ss.st_mode)) {
            bytes_total += (uint64_t)ss.st_size;
            if (!full_mode && have && S_ISREG(ts.st_mode) && ts.st_nlink == 1) {
                compare_file(s, t, (uint64_t)ss.st_size, r);
            } else {
                bytes_transferred += (uint64_t)ss.st_size;
                files_new++;
                if (verbose) {
                    fprintf(stderr, "copy %llu bytes: ", (unsigned long long)ss.st_size);
                    tt_print_path(stderr, r);
                    fputc('\n', stderr);
                }
            }
        }
        free(s);
        free(r);
        free(t);
    }
    closedir(d);
}

int main(int argc, char **argv)
{
    tt_prog = "blockdiff";
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "-f"))
            full_mode = 1;
        else if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else
            break;
    }
    if (argc - i != 3) {
        fprintf(stderr, "usage: blockdiff [-f] [-v] BS SRC DST\n");
        return 2;
    }
    char *end;
    unsigned long long b = strtoull(argv[i], &end, 0);
    if (*end || b == 0 || b > (64u << 20))
        tt_die("bad block size %s", argv[i]);
    bs = (size_t)b;
    chunk = bs * ((4u << 20) / bs + 1);
    sbuf = malloc(chunk);
    dbuf = malloc(chunk);
    if (!sbuf || !dbuf)
        tt_die("out of memory");
    const char *src = argv[i + 1], *dst = argv[i + 2];
    struct stat st;
    if (stat(src, &st) < 0 || !S_ISDIR(st.st_mode))
        tt_die("%s is not a directory", src);
    int dst_ok = stat(dst, &st) == 0 && S_ISDIR(st.st_mode);
    walk(src, dst_ok ? dst : NULL, "");
    printf("bytes_total %llu\n", (unsigned long long)bytes_total);
    printf("bytes_transferred %llu\n", (unsigned long long)bytes_transferred);
    printf("blocks_changed %llu\n", (unsigned long long)blocks_changed);
    printf("files_new %llu\n", (unsigned long long)files_new);
    printf("files_differ %llu\n", (unsigned long long)files_differ);
    printf("files_same %llu\n", (unsigned long long)files_same);
    free(sbuf);
    free(dbuf);
    return 0;
}
