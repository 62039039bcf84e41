/* test_rewind_history — rewind_find.c: timeline history files (parsed as
 * pg_rewind parses them), the divergence point of two histories (as
 * findCommonAncestorTimeline computes it), and the last common checkpoint
 * found by walking xl_prev back through synthetic WAL. Every expected value
 * is written out by hand from the inputs, not taken from the code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/recovery/rewind.h"
#include "test_rewind_walgen.h"

#define LSN(hi, lo) (((ss_lsn)(hi) << 32) | (ss_lsn)(lo))

static void expect_range(const ss_wal_tli_range *r, uint32_t tli, ss_lsn begin, ss_lsn end)
{
    assert_int_equal(r->tli, tli);
    assert_true(r->begin == begin);
    assert_true(r->end == end);
}

static void parse_ok(const char *text, uint32_t tli, ss_wal_tli_range **v, size_t *n)
{
    ss_err err = { 0 };
    *v = NULL;
    int rc = ss_rewind_parse_history(text, tli, v, n, &err);
    if (rc != 0)
        fail_msg("parse of %u failed: %s", tli, err.msg);
}

/* The error message of a history that must be refused. */
static void parse_bad(const char *text, uint32_t tli, const char *want1, const char *want2)
{
    ss_err err = { 0 };
    ss_wal_tli_range *v = NULL;
    size_t n = 0;
    assert_int_equal(ss_rewind_parse_history(text, tli, &v, &n, &err), -1);
    assert_null(v);
    if (want1 && !strstr(err.msg, want1))
        fail_msg("\"%s\" not in \"%s\"", want1, err.msg);
    if (want2 && !strstr(err.msg, want2))
        fail_msg("\"%s\" not in \"%s\"", want2, err.msg);
}

/* ---- history files ---- */

static void test_history_one_switch(void **state)
{
    (void)state;
    ss_wal_tli_range *v;
    size_t n;
    /* what PostgreSQL writes after a promotion on timeline 1 */
    parse_ok("1\t0/3000148\tno recovery target specified\n", 2, &v, &n);
    assert_int_equal(n, 2);
    expect_range(&v[0], 1, 0, 0x3000148);
    expect_range(&v[1], 2, 0x3000148, 0);
    free(v);
}

static void test_history_timeline1_and_empty(void **state)
{
    (void)state;
    ss_wal_tli_range *v;
    size_t n;
    parse_ok("", 1, &v, &n);
    assert_int_equal(n, 1);
    expect_range(&v[0], 1, 0, 0);
    free(v);
    /* only comments: as pg_rewind, the tip alone */
    parse_ok("# nothing here\n\n", 4, &v, &n);
    assert_int_equal(n, 1);
    expect_range(&v[0], 4, 0, 0);
    free(v);
}

static void test_history_comments_blank_crlf(void **state)
{
    (void)state;
    ss_wal_tli_range *v;
    size_t n;
    const char *text = "# written by hand\n"
                       "\n"
                       "   \t \n"
                       "  # indented comment 7\t1/1\n"
                       "1\t0/5000000\tbefore transaction 1234\r\n"
                       "\r\n"
                       "  2\t0/7A0000D8\tat restore point \"x\"\r\n"
                       "# trailing comment, no newline";
    parse_ok(text, 3, &v, &n);
    assert_int_equal(n, 3);
    expect_range(&v[0], 1, 0, 0x5000000);
    expect_range(&v[1], 2, 0x5000000, 0x7A0000D8);
    expect_range(&v[2], 3, 0x7A0000D8, 0);
    free(v);
}

static void test_history_many_switches(void **state)
{
    (void)state;
    ss_wal_tli_range *v;
    size_t n;
    /* timelines may skip numbers (a promotion whose history was never
     * archived); the last line has no newline and no reason; a space
     * separates the fields of one line (scanf's "\t" matches any blank,
     * as in PostgreSQL's parser) */
    const char *text = "1\t0/3000000\tno recovery target specified\n"
                       "2\t0/3000000\tpromoted again at once\n"
                       "4\t1/A0000028\tno recovery target specified\n"
                       "7 2/FF\treason\n"
                       "9\tA/0";
    parse_ok(text, 12, &v, &n);
    assert_int_equal(n, 6);
    expect_range(&v[0], 1, 0, 0x3000000);
    expect_range(&v[1], 2, 0x3000000, 0x3000000);
    expect_range(&v[2], 4, 0x3000000, LSN(1, 0xA0000028));
    expect_range(&v[3], 7, LSN(1, 0xA0000028), LSN(2, 0xFF));
    expect_range(&v[4], 9, LSN(2, 0xFF), LSN(0xA, 0));
    expect_range(&v[5], 12, LSN(0xA, 0), 0);
    free(v);

    /* more lines than the parser's first allocation */
    char big[4096] = "";
    size_t o = 0;
    for (unsigned t = 1; t <= 40; t++)
        o += (size_t)snprintf(big + o, sizeof big - o, "%u\t%X/%X\tr\n", t, t, 0x100u * t);
    parse_ok(big, 41, &v, &n);
    assert_int_equal(n, 41);
    for (unsigned t = 1; t <= 40; t++)
        expect_range(&v[t - 1], t, t == 1 ? 0 : LSN(t - 1, 0x100u * (t - 1)), LSN(t, 0x100u * t));
    expect_range(&v[40], 41, LSN(40, 0x100u * 40), 0);
    free(v);
}

static void test_history_malformed(void **state)
{
    (void)state;
    /* not a number where the timeline goes; the line is named */
    parse_bad("1\t0/3000000\tok\n\nabc\t0/4000000\tx\n", 3, "line 3", "of 3");
    /* no switch point */
    parse_bad("1\n", 2, "line 1", NULL);
    parse_bad("1\tnowhere\treason\n", 2, "line 1", NULL);
    parse_bad("1\t0-3000000\treason\n", 2, "line 1", NULL);
    /* timelines that do not increase */
    parse_bad("1\t0/3000000\ta\n1\t0/4000000\tb\n", 3, "line 2", "increase");
    parse_bad("2\t0/3000000\ta\n1\t0/4000000\tb\n", 3, "line 2", "increase");
    /* switch points that go back */
    parse_bad("1\t0/5000000\ta\n2\t0/4000000\tb\n", 3, "line 2", NULL);
}

/* A history that does not lead to the timeline it was read for: an entry
 * for that timeline or a later one (pg_rewind: "Timeline IDs must be less
 * than child timeline's ID"). */
static void test_history_not_leading_to_target(void **state)
{
    (void)state;
    parse_bad("1\t0/3000000\ta\n3\t0/4000000\tb\n", 3, "line 2", NULL);
    parse_bad("1\t0/3000000\ta\n5\t0/4000000\tb\n", 3, "line 2", NULL);
    parse_bad("2\t0/3000000\ta\n", 2, "line 1", NULL);
    /* timeline 1 never has a parent */
    parse_bad("1\t0/3000000\ta\n", 1, NULL, NULL);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_history_read_from_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_rewind_history.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char wal[256], h2[300], h1f[300];
    snprintf(wal, sizeof wal, "%s/pg_wal", dir);
    assert_int_equal(mkdir(wal, 0700), 0);
    snprintf(h2, sizeof h2, "%s/0000001A.history", wal);
    write_file(h2, "1\t0/3000000\tx\n2\t0/4000000\ty\n");

    ss_err err = { 0 };
    ss_wal_tli_range *v = NULL;
    size_t n = 0;
    /* timeline 26: file name in upper-case hex, 8 digits */
    assert_int_equal(ss_rewind_read_history(dir, 26, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    expect_range(&v[0], 1, 0, 0x3000000);
    expect_range(&v[1], 2, 0x3000000, 0x4000000);
    expect_range(&v[2], 26, 0x4000000, 0);
    free(v);

    /* timeline 1: no file is read (none exists) */
    v = NULL;
    assert_int_equal(ss_rewind_read_history(dir, 1, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    expect_range(&v[0], 1, 0, 0);
    free(v);

    /* a missing history: an error naming the file */
    v = NULL;
    assert_int_equal(ss_rewind_read_history(dir, 3, &v, &n, &err), -1);
    assert_null(v);
    assert_non_null(strstr(err.msg, "00000003.history"));

    /* a malformed one: the file and the line are named */
    snprintf(h1f, sizeof h1f, "%s/00000005.history", wal);
    write_file(h1f, "1\t0/3000000\tx\n\nbroken\n");
    assert_int_equal(ss_rewind_read_history(dir, 5, &v, &n, &err), -1);
    assert_null(v);
    assert_non_null(strstr(err.msg, "00000005.history"));
    assert_non_null(strstr(err.msg, "line 3"));

    /* an empty file for timeline 5: the tip alone */
    write_file(h1f, "");
    assert_int_equal(ss_rewind_read_history(dir, 5, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    expect_range(&v[0], 5, 0, 0);
    free(v);

    unlink(h2);
    unlink(h1f);
    rmdir(wal);
    rmdir(dir);
}

/* ---- the divergence point ---- */

static void divergence_ok(const ss_wal_tli_range *s, size_t ns, const ss_wal_tli_range *t,
                          size_t nt, ss_lsn want, size_t want_index)
{
    ss_err err = { 0 };
    ss_lsn d = 12345;
    size_t i = 999;
    int rc = ss_rewind_divergence(s, ns, t, nt, &d, &i, &err);
    if (rc != 0)
        fail_msg("divergence failed: %s", err.msg);
    assert_true(d == want);
    assert_int_equal(i, want_index);
}

/* The usual failover: the mirror was promoted to timeline 2 at A, the old
 * primary stayed on timeline 1 (and wrote past A: the target is ahead). */
static void test_divergence_source_promoted(void **state)
{
    (void)state;
    ss_lsn A = 0x3000148;
    ss_wal_tli_range src[] = { { 1, 0, A }, { 2, A, 0 } };
    ss_wal_tli_range tgt[] = { { 1, 0, 0 } };
    divergence_ok(src, 2, tgt, 1, A, 0);
    /* the result does not depend on which side is which */
    divergence_ok(tgt, 1, src, 2, A, 0);
}

/* The source is ahead on a newer timeline and the target followed it for
 * a while (both went through timeline 2); the target was then promoted to
 * timeline 3 at B while the source stayed on 2. */
static void test_divergence_target_newer(void **state)
{
    (void)state;
    ss_lsn A = LSN(0, 0x3000148), B = LSN(1, 0x20);
    ss_wal_tli_range src[] = { { 1, 0, A }, { 2, A, 0 } };
    ss_wal_tli_range tgt[] = { { 1, 0, A }, { 2, A, B }, { 3, B, 0 } };
    divergence_ok(src, 2, tgt, 3, B, 1);
    divergence_ok(tgt, 3, src, 2, B, 1);
}

/* Both promoted from timeline 1 at different points (two timelines 2 and 3
 * that branch from 1): the earlier switch is where they part. */
static void test_divergence_sibling_timelines(void **state)
{
    (void)state;
    ss_lsn A = 0x5000000, C = 0x4800028;
    ss_wal_tli_range src[] = { { 1, 0, A }, { 2, A, 0 } };
    ss_wal_tli_range tgt[] = { { 1, 0, C }, { 3, C, 0 } };
    divergence_ok(src, 2, tgt, 2, C, 0);
    divergence_ok(tgt, 2, src, 2, C, 0);
    /* the same timeline number that begins elsewhere is another timeline */
    ss_wal_tli_range odd[] = { { 1, 0, C }, { 2, C, 0 } };
    divergence_ok(src, 2, odd, 2, C, 0);
}

/* The source is several timelines ahead of a target that stopped on an
 * older one (the target is an ancestor; whether it wrote past the switch
 * is for the caller to tell from the end of its WAL). */
static void test_divergence_source_far_ahead(void **state)
{
    (void)state;
    ss_lsn A = 0x3000000, B = 0x9000000, C = LSN(2, 0);
    ss_wal_tli_range src[] = { { 1, 0, A }, { 2, A, B }, { 3, B, C }, { 4, C, 0 } };
    ss_wal_tli_range tgt[] = { { 1, 0, A }, { 2, A, 0 } };
    divergence_ok(src, 4, tgt, 2, B, 1);
}

/* Same timeline: both open ended; the end of the last common entry is
 * "none" (0), as MinXLogRecPtr of two invalid pointers. */
static void test_divergence_same_timeline(void **state)
{
    (void)state;
    ss_wal_tli_range a[] = { { 1, 0, 0x3000000 }, { 2, 0x3000000, 0 } };
    divergence_ok(a, 2, a, 2, 0, 1);
}

static void test_divergence_no_common_ancestor(void **state)
{
    (void)state;
    ss_wal_tli_range src[] = { { 1, 0, 0 } };
    ss_wal_tli_range tgt[] = { { 2, 0, 0 } };
    ss_err err = { 0 };
    ss_lsn d = 0;
    size_t i = 0;
    assert_int_equal(ss_rewind_divergence(src, 1, tgt, 1, &d, &i, &err), -1);
    assert_non_null(strstr(err.msg, "common ancestor"));
    /* same first timeline but another beginning: nothing in common */
    ss_wal_tli_range odd[] = { { 1, 0x100, 0 } };
    assert_int_equal(ss_rewind_divergence(src, 1, odd, 1, &d, &i, &err), -1);
    assert_int_equal(ss_rewind_divergence(src, 0, tgt, 1, &d, &i, &err), -1);
}

/* ---- the last common checkpoint ---- */

typedef struct {
    ss_lsn chk1, h1, h2, chk2, h3, h4, h5, end;
} small_wal;

/* Timeline 3 WAL at 0/5000000 + a bit:
 *   CHK1 shutdown (redo = 0/4FFFF28, tli 2) H1 H2 CHK2 online (redo = H2,
 *   tli 3; info with XLR_CHECK_CONSISTENCY set) H3 (XLOG noop) H4 (not
 *   XLOG, info 0x10) H5 */
static void build_small(walgen *g, small_wal *w)
{
    wg_init(g, 3, 5 * (ss_lsn)WG_SEG + 2 * WG_PAGE);
    uint8_t d[40] = { 1, 2, 3 };
    w->chk1 = wg_checkpoint(g, 0x00, 0x4FFFF28, 2);
    w->h1 = wg_record(g, 10, 0x00, NULL, 0, d, 30);
    w->h2 = wg_record(g, 10, 0x10, NULL, 0, d, 40);
    w->chk2 = wg_checkpoint(g, 0x10 | 0x02, w->h2, 3);
    w->h3 = wg_record(g, 0, 0x20, NULL, 0, NULL, 0);
    w->h4 = wg_record(g, 11, 0x10, NULL, 0, d, 12);
    w->h5 = wg_record(g, 10, 0x00, NULL, 0, d, 20);
    w->end = g->pos;
}

static void chkpt_ok(ss_wal_reader *r, ss_lsn forkptr, ss_lsn want, ss_lsn want_redo,
                     uint32_t want_tli)
{
    ss_err err = { 0 };
    ss_lsn c = 0, redo = 0;
    uint32_t tli = 0;
    int rc = ss_rewind_last_checkpoint(r, forkptr, WG_PAGE, WG_SEG, &c, &redo, &tli, &err);
    if (rc != 0)
        fail_msg("last checkpoint before %X/%08X: %s", SS_LSN_ARGS(forkptr), err.msg);
    if (c != want)
        fail_msg("before %X/%08X: checkpoint %X/%08X, expected %X/%08X", SS_LSN_ARGS(forkptr),
                 SS_LSN_ARGS(c), SS_LSN_ARGS(want));
    assert_true(redo == want_redo);
    assert_int_equal(tli, want_tli);
}

static void test_checkpoint_walk_back(void **state)
{
    (void)state;
    walgen g;
    small_wal w;
    build_small(&g, &w);
    ss_wal_reader *r = wg_reader(&g);
    assert_non_null(r);
    /* forkptr is where the first diverged record starts */
    chkpt_ok(r, w.h5, w.chk2, w.h2, 3);
    chkpt_ok(r, w.h4, w.chk2, w.h2, 3);     /* past an XLOG record that is no checkpoint */
    chkpt_ok(r, w.h3, w.chk2, w.h2, 3);     /* the checkpoint just before */
    /* a checkpoint that starts at forkptr is already diverged */
    chkpt_ok(r, w.chk2, w.chk1, 0x4FFFF28, 2);
    chkpt_ok(r, w.h2, w.chk1, 0x4FFFF28, 2);
    chkpt_ok(r, w.h1, w.chk1, 0x4FFFF28, 2);
    /* nothing before the first checkpoint: an error naming forkptr */
    ss_err err = { 0 };
    ss_lsn c, redo;
    uint32_t tli;
    assert_int_equal(ss_rewind_last_checkpoint(r, w.chk1, WG_PAGE, WG_SEG, &c, &redo, &tli, &err), -1);
    char want[32];
    snprintf(want, sizeof want, SS_LSN_FMT, SS_LSN_ARGS(w.chk1));
    if (!strstr(err.msg, "no checkpoint") || !strstr(err.msg, want))
        fail_msg("unexpected error: %s", err.msg);
    /* forkptr where no record starts (the end of the WAL written) */
    assert_int_equal(ss_rewind_last_checkpoint(r, w.end, WG_PAGE, WG_SEG, &c, &redo, &tli, &err), -1);
    snprintf(want, sizeof want, SS_LSN_FMT, SS_LSN_ARGS(w.end));
    if (!strstr(err.msg, want))
        fail_msg("error does not name %s: %s", want, err.msg);
    ss_wal_reader_free(r);
    wg_free(&g);
}

/* The last common record ends at a page boundary (B) or a segment boundary
 * (S): the first diverged record starts after the page header, and a
 * checkpoint there is on the diverged side. */
static void test_checkpoint_at_boundaries(void **state)
{
    (void)state;
    walgen g;
    wg_init(&g, 1, 7 * (ss_lsn)WG_SEG + 3 * WG_PAGE);
    uint8_t d[16] = { 0 };
    ss_lsn chk1 = wg_checkpoint(&g, 0x10, 7 * (ss_lsn)WG_SEG + 1000, 1);
    wg_record(&g, 10, 0x00, NULL, 0, d, 16);
    ss_lsn B = 7 * (ss_lsn)WG_SEG + 6 * WG_PAGE;
    wg_fill_to(&g, B);
    ss_lsn chk2 = wg_checkpoint(&g, 0x00, B + 24, 1);
    assert_true(chk2 == B + 24);            /* after the short page header */
    wg_record(&g, 10, 0x00, NULL, 0, d, 16);
    ss_lsn S = 8 * (ss_lsn)WG_SEG;
    wg_fill_to(&g, S);                      /* spans many pages */
    ss_lsn chk3 = wg_checkpoint(&g, 0x00, S + 40, 1);
    assert_true(chk3 == S + 40);            /* after the long page header */
    ss_lsn after = wg_record(&g, 10, 0x00, NULL, 0, d, 16);

    ss_wal_reader *r = wg_reader(&g);
    assert_non_null(r);
    chkpt_ok(r, B, chk1, 7 * (ss_lsn)WG_SEG + 1000, 1);
    chkpt_ok(r, S, chk2, B + 24, 1);
    chkpt_ok(r, after, chk3, S + 40, 1);
    ss_wal_reader_free(r);
    wg_free(&g);
}

static void test_checkpoint_too_short(void **state)
{
    (void)state;
    walgen g;
    wg_init(&g, 1, 2 * (ss_lsn)WG_SEG);
    uint8_t d[12] = { 0 };
    ss_lsn c = wg_record(&g, 0, 0x00, NULL, 0, d, sizeof d);   /* a 12-byte "checkpoint" */
    ss_lsn next = wg_record(&g, 10, 0x00, NULL, 0, d, 4);
    ss_wal_reader *r = wg_reader(&g);
    ss_err err = { 0 };
    ss_lsn chk, redo;
    uint32_t tli;
    assert_int_equal(ss_rewind_last_checkpoint(r, next, WG_PAGE, WG_SEG, &chk, &redo, &tli, &err), -1);
    char want[32];
    snprintf(want, sizeof want, SS_LSN_FMT, SS_LSN_ARGS(c));
    if (!strstr(err.msg, want) || !strstr(err.msg, "too short"))
        fail_msg("unexpected error: %s", err.msg);
    ss_wal_reader_free(r);
    wg_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_one_switch),
        cmocka_unit_test(test_history_timeline1_and_empty),
        cmocka_unit_test(test_history_comments_blank_crlf),
        cmocka_unit_test(test_history_many_switches),
        cmocka_unit_test(test_history_malformed),
        cmocka_unit_test(test_history_not_leading_to_target),
        cmocka_unit_test(test_history_read_from_dir),
        cmocka_unit_test(test_divergence_source_promoted),
        cmocka_unit_test(test_divergence_target_newer),
        cmocka_unit_test(test_divergence_sibling_timelines),
        cmocka_unit_test(test_divergence_source_far_ahead),
        cmocka_unit_test(test_divergence_same_timeline),
        cmocka_unit_test(test_divergence_no_common_ancestor),
        cmocka_unit_test(test_checkpoint_walk_back),
        cmocka_unit_test(test_checkpoint_at_boundaries),
        cmocka_unit_test(test_checkpoint_too_short),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
