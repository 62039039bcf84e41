/*
 * changed_blocks — write to stdout the SOURCE blocks that differ from the
 * TARGET's blocks at the same offset, for the files named on stdin.
 *
 *   changed_blocks [-b BS] SRC DST < LIST > blocks
 *
 * LIST holds paths relative to SRC and DST, one a line (as `gendata mutate
 * --list` writes them). For each, block i (bytes [i*BS, min((i+1)*BS,
 * size)) of SRC) is written when DST is shorter there or holds other
 * bytes. The concatenation is what a block-level sync has to carry;
 * bench/bench_net.sh pipes it through `zstd -3` to get "the zstd-compressed
 * size of the changed blocks" that issue 3's wire target is measured
 * against. A summary line ("blocks N bytes M") goes to stderr.
 *
 * Independent of the engine (plain open/read/memcmp), like tests/tools/.
 * Exit 0 on success, 2 on any error (message on stderr).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (4u << 20)   /* read 4 MiB at a time: whole blocks, few calls */

static int fail(const char *what, const char *path)
{
    fprintf(stderr, "changed_blocks: %s %s: %s\n", what, path, strerror(errno));
    return 2;
}

/* Read up to n bytes (less only at end of file). -1 on error. */
static ssize_t read_full(int fd, unsigned char *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int one_file(const char *sp, const char *dp, size_t bs,
                    unsigned char *sb, unsigned char *db,
                    uint64_t *nblocks, uint64_t *nbytes)
{
    int sfd = open(sp, O_RDONLY | O_CLOEXEC);
    if (sfd < 0)
        return fail("open", sp);
    int dfd = open(dp, O_RDONLY | O_CLOEXEC);   /* missing DST: all differ */
    size_t chunk = CHUNK - CHUNK % bs;
    for (;;) {
        ssize_t sn = read_full(sfd, sb, chunk);
        if (sn < 0) {
            close(sfd);
            if (dfd >= 0)
                close(dfd);
            return fail("read", sp);
        }
        if (sn == 0)
            break;
        ssize_t dn = dfd >= 0 ? read_full(dfd, db, chunk) : 0;
        if (dn < 0) {
            close(sfd);
            close(dfd);
            return fail("read", dp);
        }
        for (size_t o = 0; o < (size_t)sn; o += bs) {
            size_t len = (size_t)sn - o < bs ? (size_t)sn - o : bs;
            if (o + len <= (size_t)dn && memcmp(sb + o, db + o, len) == 0)
                continue;
            if (fwrite(sb + o, 1, len, stdout) != len) {
                close(sfd);
                if (dfd >= 0)
                    close(dfd);
                return fail("write", "stdout");
            }
            (*nblocks)++;
            *nbytes += len;
        }
    }
    close(sfd);
    if (dfd >= 0)
        close(dfd);
    return 0;
}

int main(int argc, char **argv)
{
    size_t bs = 8192;
    int a = 1;
    if (a + 1 < argc && strcmp(argv[a], "-b") == 0) {
        bs = (size_t)strtoul(argv[a + 1], NULL, 10);
        a += 2;
    }
    if (argc - a != 2 || bs == 0 || bs > CHUNK) {
        fprintf(stderr, "usage: changed_blocks [-b BS] SRC DST < LIST\n");
        return 2;
    }
    const char *src = argv[a], *dst = argv[a + 1];
    unsigned char *sb = malloc(CHUNK), *db = malloc(CHUNK);
    if (!sb || !db) {
        fprintf(stderr, "changed_blocks: out of memory\n");
        return 2;
    }
    uint64_t nblocks = 0, nbytes = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (n == 0)
            continue;
        char *sp, *dp;
        if (asprintf(&sp, "%s/%s", src, line) < 0 || asprintf(&dp, "%s/%s", dst, line) < 0) {
            fprintf(stderr, "changed_blocks: out of memory\n");
            return 2;
        }
        rc = one_file(sp, dp, bs, sb, db, &nblocks, &nbytes);
        free(sp);
        free(dp);
    }
    free(line);
    free(sb);
    free(db);
    if (rc == 0 && fflush(stdout) != 0)
        rc = fail("write", "stdout");
    fprintf(stderr, "blocks %" PRIu64 " bytes %" PRIu64 "\n", nblocks, nbytes);
    return rc;
}
