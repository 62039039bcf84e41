/* rewind_find.c — timelines, divergence and the last common checkpoint
 * (see rewind.h; pg_rewind's timeline.c, findCommonAncestorTimeline and
 * findLastCheckpoint). */
#include "engine/recovery/rewind.h"
#include "engine/pg/walsource.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RM_XLOG_ID 0
#define XLOG_CHECKPOINT_SHUTDOWN 0x00
#define XLOG_CHECKPOINT_ONLINE 0x10
#define SIZE_OF_SHORT_PHD 24
#define SIZE_OF_LONG_PHD 40

int ss_rewind_parse_history(const char *text, uint32_t tli, ss_wal_tli_range **out, size_t *n,
                            ss_err *err)
{
    size_t cap = 8, cnt = 0;
    ss_wal_tli_range *v = malloc(cap * sizeof *v);
    if (!v)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "timeline history");
    ss_lsn prev_end = 0;
    uint32_t last_tli = 0;
    const char *p = text;
    int lineno = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
        p = nl ? nl + 1 : p + len;
        lineno++;
        char *s = line + strspn(line, " \t\r");
        if (!*s || *s == '#')
            continue;
        unsigned t, hi, lo;
        if (sscanf(s, "%u\t%X/%X", &t, &hi, &lo) != 3 &&
            sscanf(s, "%u %X/%X", &t, &hi, &lo) != 3) {
            free(v);
            return ss_seterr(err, SS_ECLUSTER, 0,
                             "timeline history of %u, line %d: expected \"TLI<tab>X/X<tab>reason\"",
                             tli, lineno);
        }
        ss_lsn sw = ((ss_lsn)hi << 32) | lo;
        if (t <= last_tli || t >= tli || sw < prev_end) {
            free(v);
            return ss_seterr(err, SS_ECLUSTER, 0,
                             "timeline history of %u, line %d: timelines and switch points must increase",
                             tli, lineno);
        }
        if (cnt + 1 >= cap) {
            cap *= 2;
            ss_wal_tli_range *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                free(v);
                return ss_seterr(err, SS_EINTERNAL, ENOMEM, "timeline history");
            }
            v = nv;
        }
        v[cnt++] = (ss_wal_tli_range){ t, prev_end, sw };
        prev_end = sw;
        last_tli = t;
    }
    v[cnt++] = (ss_wal_tli_range){ tli, prev_end, 0 };
    *out = v;
    *n = cnt;
    return 0;
}

int ss_rewind_read_history(const char *datadir, uint32_t tli, ss_wal_tli_range **out,
                           size_t *n, ss_err *err)
{
    if (tli == 1)
        return ss_rewind_parse_history("", 1, out, n, err);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/pg_wal/%08X.history", datadir, tli);
    FILE *f = fopen(path, "r");
    if (!f)
        return ss_seterr(err, SS_ECLUSTER, errno, "cannot read timeline history %s", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char tmp[4096];
    size_t got;
    while ((got = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (len + got + 1 > cap) {
            cap = (len + got + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb || cap > (1u << 24)) {
                free(nb ? nb : buf);
                fclose(f);
                return ss_seterr(err, SS_ECLUSTER, 0, "timeline history %s is too large", path);
            }
            buf = nb;
        }
        memcpy(buf + len, tmp, got);
        len += got;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return ss_seterr(err, SS_ECLUSTER, EIO, "cannot read timeline history %s", path);
    }
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[len] = 0;
    if (!buf)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "timeline history");
    int rc = ss_rewind_parse_history(buf, tli, out, n, err);
    free(buf);
    if (rc < 0) {
        ss_err_prefix(err, ": ");
        ss_err_prefix(err, path);
    }
    return rc;
}

static ss_lsn min_end(ss_lsn a, ss_lsn b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    return a < b ? a : b;
}

int ss_rewind_divergence(const ss_wal_tli_range *src, size_t ns, const ss_wal_tli_range *tgt,
                         size_t nt, ss_lsn *divergence, size_t *common_index, ss_err *err)
{
    size_t i = 0;
    while (i < ns && i < nt && src[i].tli == tgt[i].tli && src[i].begin == tgt[i].begin)
        i++;
    if (i == 0)
        return ss_seterr(err, SS_ECLUSTER, 0,
                         "could not find a common ancestor of the source's and the target's timelines");
    i--;
    *divergence = min_end(src[i].end, tgt[i].end);
    *common_index = i;
    return 0;
}

int ss_rewind_last_checkpoint(ss_wal_reader *r, ss_lsn forkptr, uint32_t page_size,
                              uint32_t seg_size, ss_lsn *chkpt, ss_lsn *redo, uint32_t *tli,
                              ss_err *err)
{
    /* forkptr ends the last common record; when it is at a page boundary
     * the next record starts after the page header. */
    if (forkptr % page_size == 0)
        forkptr += forkptr % seg_size == 0 ? SIZE_OF_LONG_PHD : SIZE_OF_SHORT_PHD;
    ss_lsn search = forkptr;
    for (;;) {
        ss_wal_record rec;
        if (ss_wal_read_at(r, search, &rec, err) < 0) {
            char m[sizeof err->msg];
            snprintf(m, sizeof m, "%s", err->msg);
            return ss_seterr(err, SS_ECLUSTER, 0,
                             "looking for the last common checkpoint before " SS_LSN_FMT
                             ": cannot read the WAL record at " SS_LSN_FMT ": %s",
                             SS_LSN_ARGS(forkptr), SS_LSN_ARGS(search), m);
        }
        uint8_t info = rec.info & 0xF0;
        if (search < forkptr && rec.rmid == RM_XLOG_ID &&
            (info == XLOG_CHECKPOINT_SHUTDOWN || info == XLOG_CHECKPOINT_ONLINE)) {
            if (rec.main_data_len < 16)
                return ss_seterr(err, SS_ECLUSTER, 0,
                                 "checkpoint record at " SS_LSN_FMT " is too short (%u bytes)",
                                 SS_LSN_ARGS(search), rec.main_data_len);
            uint64_t rp;
            uint32_t t;
            memcpy(&rp, rec.main_data, 8);
            memcpy(&t, rec.main_data + 8, 4);
            *chkpt = search;
            *redo = rp;
            *tli = t;
            return 0;
        }
        if (rec.prev == 0 || rec.prev >= search)
            return ss_seterr(err, SS_ECLUSTER, 0,
                             "no checkpoint record before " SS_LSN_FMT " in the target's WAL "
                             "(xl_prev chain ends at " SS_LSN_FMT ")",
                             SS_LSN_ARGS(forkptr), SS_LSN_ARGS(search));
        search = rec.prev;
    }
}
