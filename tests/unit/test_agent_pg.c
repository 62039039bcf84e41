/*
 * test_agent_pg.c — what PostgreSQL mode needs from the agent, over a
 * socketpair: ss_source_remote_read_file, subtree views (client-side
 * ss_walk_opts, live semantics), the root's attributes, and tablespace
 * links of a data-directory-shaped ROOT (followed exactly there, nowhere
 * else, and never out of the tablespace).
 *
 * The fixture, under a temporary directory D:
 *   D/root/PG_VERSION, D/root/global/pg_control     (a data directory)
 *   D/root/base/1/100 (3 blocks), D/root/postgresql.conf, D/root/fifo
 *   D/root/pg_tblspc/16384 -> D/ts                  (absolute link)
 *   D/ts/PG_15_x/1/200, D/ts/escape -> D/secret     (a link out)
 *   D/plain/pg_tblspc/16384 -> D/ts                 (same link, no data dir)
 *   D/secret
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/agent.h"
#include "engine/source_remote.h"

#define BS 8192u

typedef struct {
    char dir[256];
    char root[300], plain[300], ts[300];
} fixture;

typedef struct {
    const char *root;
    int fd;
    ss_agent_opts o;
    ss_agent_stats st;
    int rc;
    ss_err err;
} agent_run;

static void *agent_thread(void *arg)
{
    agent_run *r = arg;
    r->rc = ss_agent_serve(r->root, r->fd, r->fd, &r->o, &r->err);
    close(r->fd);
    return NULL;
}

static void put(const char *dir, const char *rel, const void *p, size_t n)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static void mkd(const char *dir, const char *rel)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    assert_int_equal(mkdir(path, 0700), 0);
}

static void lnk(const char *target, const char *dir, const char *rel)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    assert_int_equal(symlink(target, path), 0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/segsync-test-agent-pg.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->root, sizeof f->root, "%s/root", f->dir);
    snprintf(f->plain, sizeof f->plain, "%s/plain", f->dir);
    snprintf(f->ts, sizeof f->ts, "%s/ts", f->dir);
    mkd(f->dir, "root");
    mkd(f->dir, "plain");
    mkd(f->dir, "ts");
    put(f->root, "PG_VERSION", "15\n", 3);
    mkd(f->root, "global");
    char ctl[8192];
    for (size_t i = 0; i < sizeof ctl; i++)
        ctl[i] = (char)(i * 7);
    put(f->root, "global/pg_control", ctl, sizeof ctl);
    mkd(f->root, "base");
    mkd(f->root, "base/1");
    char rel[3 * BS];
    memset(rel, 'r', sizeof rel);
    put(f->root, "base/1/100", rel, sizeof rel);
    put(f->root, "postgresql.conf", "port = 5432\n", 12);
    char p[600];
    snprintf(p, sizeof p, "%s/fifo", f->root);
    assert_int_equal(mkfifo(p, 0600), 0);
    mkd(f->root, "pg_tblspc");
    lnk(f->ts, f->root, "pg_tblspc/16384");
    lnk("../relative", f->root, "pg_tblspc/16385");
    mkd(f->ts, "PG_15_x");
    mkd(f->ts, "PG_15_x/1");
    put(f->ts, "PG_15_x/1/200", "tablespace data", 15);
    snprintf(p, sizeof p, "%s/secret", f->dir);
    put(f->dir, "secret", "TOPSECRET", 9);
    lnk(p, f->ts, "escape");
    mkd(f->plain, "pg_tblspc");
    lnk(f->ts, f->plain, "pg_tblspc/16384");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

typedef struct {
    agent_run ar;
    pthread_t t;
    ss_source *src;
} conn;

static void connect_to(conn *c, const char *root, ss_zmode z)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(c, 0, sizeof *c);
    c->ar.root = root;
    c->ar.fd = sv[1];
    c->ar.o.compress = (ss_zopt){ z, 1, 0 };
    c->ar.o.workers = 3;
    c->ar.o.stats = &c->ar.st;
    assert_int_equal(pthread_create(&c->t, NULL, agent_thread, &c->ar), 0);
    ss_err err;
    ss_zopt zo = { z, 1, 0 };
    if (ss_source_remote_open(&c->src, "pghost", sv[0], sv[0], &zo, &err) != 0)
        fail_msg("open: %s", err.msg);
}

static void disconnect(conn *c)
{
    c->src->ops->destroy(c->src);
    pthread_join(c->t, NULL);
    if (c->ar.rc != 0)
        fail_msg("agent: %s", c->ar.err.msg);
}

static const ss_entry *find(const ss_entry_list *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].path, path) == 0)
            return &l->v[i];
    return NULL;
}

/* ---- read_file ---------------------------------------------------------- */

static void test_read_file(void **state)
{
    fixture *f = *state;
    conn c;
    connect_to(&c, f->root, SS_Z_ZSTD);
    void *buf;
    size_t len;
    ss_err err;
    if (ss_source_remote_read_file(c.src, "global/pg_control", 1 << 20, &buf, &len, &err) != 0)
        fail_msg("read pg_control: %s", err.msg);
    assert_int_equal(len, 8192);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(((unsigned char *)buf)[i], (unsigned char)(i * 7));
    free(buf);
    assert_int_equal(ss_source_remote_read_file(c.src, "postgresql.conf", 64, &buf, &len, &err), 0);
    assert_int_equal(len, 12);
    assert_string_equal(buf, "port = 5432\n");     /* NUL-terminated */
    free(buf);
    /* Exactly max bytes is fine, one byte less than the file is not. */
    assert_int_equal(ss_source_remote_read_file(c.src, "postgresql.conf", 12, &buf, &len, &err), 0);
    free(buf);
    assert_int_equal(ss_source_remote_read_file(c.src, "postgresql.conf", 11, &buf, &len, &err), -1);
    assert_non_null(strstr(err.msg, "larger than 11"));
    assert_null(buf);
    /* Missing file, missing parent: 1. */
    assert_int_equal(ss_source_remote_read_file(c.src, "pg_wal/00000002.history", 4096, &buf,
                                                &len, &err), 1);
    assert_int_equal(ss_source_remote_read_file(c.src, "backup_label", 4096, &buf, &len, &err), 1);
    assert_null(buf);
    /* Not a regular file. */
    assert_int_equal(ss_source_remote_read_file(c.src, "base", 4096, &buf, &len, &err), -1);
    assert_non_null(strstr(err.msg, "not a regular file"));
    assert_int_equal(ss_source_remote_read_file(c.src, "fifo", 4096, &buf, &len, &err), -1);
    /* Unsafe paths are refused before anything is sent. */
    assert_int_equal(ss_source_remote_read_file(c.src, "../secret", 4096, &buf, &len, &err), -1);
    assert_int_equal(ss_source_remote_read_file(c.src, "/etc/passwd", 4096, &buf, &len, &err), -1);
    /* Through the tablespace link, but not through a link inside it. */
    assert_int_equal(ss_source_remote_read_file(c.src, "pg_tblspc/16384/PG_15_x/1/200", 4096,
                                                &buf, &len, &err), 0);
    assert_int_equal(len, 15);
    assert_memory_equal(buf, "tablespace data", 15);
    free(buf);
    assert_int_equal(ss_source_remote_read_file(c.src, "pg_tblspc/16384/escape", 4096, &buf,
                                                &len, &err), -1);
    assert_null(strstr(err.msg, "TOPSECRET"));
    /* A relative tablespace link is not followed. */
    assert_int_equal(ss_source_remote_read_file(c.src, "pg_tblspc/16385/x", 4096, &buf, &len,
                                                &err), -1);
    disconnect(&c);
    /* Nor one in a pg_tblspc that others can write to (a new session: the
     * agent keeps a link it followed). */
    char p[600];
    snprintf(p, sizeof p, "%s/pg_tblspc", f->root);
    assert_int_equal(chmod(p, 0777), 0);
    connect_to(&c, f->root, SS_Z_NONE);
    assert_int_equal(ss_source_remote_read_file(c.src, "pg_tblspc/16384/PG_15_x/1/200", 4096,
                                                &buf, &len, &err), -1);
    assert_int_equal(chmod(p, 0700), 0);
    assert_int_equal(ss_source_remote_read_file(c.src, "pg_tblspc/16384/PG_15_x/1/200", 4096,
                                                &buf, &len, &err), 0);
    free(buf);
    /* Nor a link owned by someone else than the data directory's owner. */
    snprintf(p, sizeof p, "%s/pg_tblspc/16386", f->root);
    assert_int_equal(symlink(f->ts, p), 0);
    if (geteuid() == 0) {
        assert_int_equal(lchown(p, 1, 1), 0);
        assert_int_equal(ss_source_remote_read_file(c.src, "pg_tblspc/16386/PG_15_x/1/200",
                                                    4096, &buf, &len, &err), -1);
    }
    disconnect(&c);
    assert_true(c.ar.st.files >= 3);
}

/* read_file while the engine's workers have ranges in flight. */
typedef struct {
    ss_source *src;
    int n, ok;
} rjob;

static int count_sink(void *ctx, uint64_t off, const void *data, size_t len, ss_err *err)
{
    (void)off, (void)err;
    size_t *n = ctx;
    for (size_t i = 0; i < len; i++)
        if (((const char *)data)[i] != 'r')
            return -1;
    *n += len;
    return 0;
}

static int no_sigs(void *ctx, const ss_sig **sigs, size_t *n, ss_err *err)
{
    (void)ctx, (void)err;
    *sigs = NULL;
    *n = 0;
    return 0;
}

static void *range_loop(void *arg)
{
    rjob *j = arg;
    ss_worker w = { .buf_size = 3 * BS };
    w.buf = malloc(w.buf_size);
    j->ok = 1;
    for (int i = 0; i < j->n; i++) {
        size_t got = 0;
        ss_range_req rq = { "base/1/100", 3 * BS, 0, 3 * BS, BS, 1, i % 2 };
        ss_err err;
        if (j->src->ops->range(j->src, &w, &rq, no_sigs, NULL, count_sink, &got, &err) != 0 ||
            got != 3 * BS) {
            j->ok = 0;
            break;
        }
    }
    free(w.buf);
    return NULL;
}

static void test_read_file_concurrent(void **state)
{
    fixture *f = *state;
    conn c;
    connect_to(&c, f->root, SS_Z_NONE);
    rjob jobs[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (rjob){ c.src, 200, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, range_loop, &jobs[i]), 0);
    }
    for (int i = 0; i < 200; i++) {
        void *buf;
        size_t len;
        ss_err err;
        if (ss_source_remote_read_file(c.src, "PG_VERSION", 16, &buf, &len, &err) != 0)
            fail_msg("read_file %d: %s", i, err.msg);
        assert_int_equal(len, 3);
        assert_memory_equal(buf, "15\n", 3);
        free(buf);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_true(jobs[i].ok);
    }
    disconnect(&c);
}

/* ---- views -------------------------------------------------------------- */

typedef struct {
    int filtered_dir_seen;      /* filter called for something under base/ */
    int saw_reg_size;           /* pg_control came with S_IFREG and its size */
    int saw_link;               /* pg_tblspc/16384 came as S_IFLNK */
    int skipped_fifo;
    int finish_calls;
    size_t finish_n;
    int sorted;
} wctx;

static int filt(void *ctx, const char *path, const struct stat *st)
{
    wctx *w = ctx;
    if (strncmp(path, "base/", 5) == 0)
        w->filtered_dir_seen = 1;
    if (strcmp(path, "global/pg_control") == 0 && S_ISREG(st->st_mode) && st->st_size == 8192 &&
        (st->st_mode & 07777) == 0640 && st->st_mtim.tv_sec > 0)
        w->saw_reg_size = 1;
    if (strcmp(path, "pg_tblspc/16384") == 0 && S_ISLNK(st->st_mode))
        w->saw_link = 1;
    return strcmp(path, "base") != 0;     /* drop base/ and all of it */
}

static void skipped(void *ctx, const char *path, const char *why)
{
    (void)why;
    wctx *w = ctx;
    if (strcmp(path, "fifo") == 0)
        w->skipped_fifo = 1;
}

static int finish(void *ctx, ss_entry_list *l, ss_err *err)
{
    (void)err;
    wctx *w = ctx;
    w->finish_calls++;
    w->finish_n = l->n;
    w->sorted = 1;
    for (size_t i = 1; i < l->n; i++)
        if (ss_path_cmp(l->v[i - 1].path, l->v[i].path) >= 0)
            w->sorted = 0;
    return 0;
}

static void test_views(void **state)
{
    fixture *f = *state;
    conn c;
    connect_to(&c, f->root, SS_Z_ZSTD);
    ss_err err;
    ss_entry_list l;

    /* The base: the root's attributes, the link listed but not entered,
     * the fifo left out as before. */
    if (c.src->ops->list(c.src, &l, &err) != 0)
        fail_msg("list: %s", err.msg);
    struct stat rst;
    assert_int_equal(stat(f->root, &rst), 0);
    assert_int_equal(l.root.type, SS_FT_DIR);
    assert_int_equal(l.root.mode, rst.st_mode & 07777);
    assert_true(l.root.mtime_sec == rst.st_mtim.tv_sec);
    assert_true(l.root.mtime_nsec == rst.st_mtim.tv_nsec);
    const ss_entry *e = find(&l, "pg_tblspc/16384");
    assert_non_null(e);
    assert_int_equal(e->type, SS_FT_LNK);
    assert_string_equal(e->link, f->ts);
    for (size_t i = 0; i < l.n; i++)
        assert_true(strncmp(l.v[i].path, "pg_tblspc/16384/", 16) != 0);
    assert_null(find(&l, "fifo"));
    assert_non_null(find(&l, "base/1/100"));
    ss_entry_list_free(&l);

    /* A filtered view of the whole root. */
    wctx w = { 0 };
    ss_walk_opts wo = { .filter = filt, .skipped = skipped, .finish = finish, .ctx = &w };
    ss_source *all;
    assert_int_equal(ss_source_remote_subtree(c.src, "", &wo, 1, &all, &err), 0);
    if (all->ops->list(all, &l, &err) != 0)
        fail_msg("view list: %s", err.msg);
    assert_null(find(&l, "base"));
    assert_null(find(&l, "base/1"));
    assert_null(find(&l, "base/1/100"));
    assert_null(find(&l, "fifo"));
    assert_non_null(find(&l, "global/pg_control"));
    assert_false(w.filtered_dir_seen);
    assert_true(w.saw_reg_size);
    assert_true(w.saw_link);
    assert_true(w.skipped_fifo);
    assert_int_equal(w.finish_calls, 1);
    assert_int_equal(w.finish_n, l.n);
    assert_true(w.sorted);
    ss_entry_list_free(&l);
    /* keep_other keeps the fifo (as type other). */
    ss_walk_opts keep = { .keep_other = 1 };
    ss_source *all2;
    assert_int_equal(ss_source_remote_subtree(c.src, NULL, &keep, 0, &all2, &err), 0);
    assert_int_equal(all2->ops->list(all2, &l, &err), 0);
    assert_non_null(find(&l, "fifo"));
    assert_int_equal(find(&l, "fifo")->type, SS_FT_OTHER);
    ss_entry_list_free(&l);
    all2->ops->destroy(all2);

    /* A subtree: entries and ranges relative to it. */
    ss_source *b;
    assert_int_equal(ss_source_remote_subtree(c.src, "base", NULL, 0, &b, &err), 0);
    assert_int_equal(b->ops->list(b, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].path, "1");
    assert_string_equal(l.v[1].path, "1/100");
    assert_int_equal(l.root.type, SS_FT_DIR);
    assert_int_equal(l.root.mode, 0700);
    ss_entry_list_free(&l);
    ss_worker wk = { .buf_size = 3 * BS };
    wk.buf = malloc(wk.buf_size);
    size_t got = 0;
    ss_range_req rq = { "1/100", 3 * BS, 0, 3 * BS, BS, 1, 0 };
    if (b->ops->range(b, &wk, &rq, no_sigs, NULL, count_sink, &got, &err) != 0)
        fail_msg("view range: %s", err.msg);
    assert_int_equal(got, 3 * BS);
    /* A view of a view; read_file relative to the view. */
    ss_source *b1;
    assert_int_equal(ss_source_remote_subtree(b, "1", NULL, 0, &b1, &err), 0);
    void *buf;
    size_t len;
    assert_int_equal(ss_source_remote_read_file(b1, "100", 1 << 20, &buf, &len, &err), 0);
    assert_int_equal(len, 3 * BS);
    free(buf);
    assert_true(b1->ops->wire_bytes(b1) == c.src->ops->wire_bytes(c.src));
    b1->ops->destroy(b1);
    b->ops->destroy(b);
    /* A subtree that is not there, or unsafe. */
    ss_source *bad;
    assert_int_equal(ss_source_remote_subtree(c.src, "../root", NULL, 0, &bad, &err), -1);
    assert_int_equal(ss_source_remote_subtree(c.src, "nothere", NULL, 0, &bad, &err), 0);
    assert_int_equal(bad->ops->list(bad, &l, &err), -1);
    assert_non_null(strstr(err.msg, "source pghost: "));
    assert_non_null(strstr(err.msg, "nothere"));
    bad->ops->destroy(bad);
    /* A failed listing fails only itself: the session goes on. */
    assert_int_equal(all->ops->list(all, &l, &err), 0);
    assert_true(l.n > 3);
    ss_entry_list_free(&l);
    all->ops->destroy(all);
    free(wk.buf);
    disconnect(&c);
}

typedef struct {
    char buf[4 * BS];
    size_t n;
} img;

static int img_sink(void *ctx, uint64_t off, const void *data, size_t len, ss_err *err)
{
    (void)err;
    img *m = ctx;
    memcpy(m->buf + off, data, len);
    m->n += len;
    return 0;
}

/* The tablespace: listed and read through the link, nothing beyond it. */
static void test_tablespace(void **state)
{
    fixture *f = *state;
    conn c;
    connect_to(&c, f->root, SS_Z_NONE);
    ss_err err;
    ss_entry_list l;
    ss_source *ts;
    assert_int_equal(ss_source_remote_subtree(c.src, "pg_tblspc/16384", NULL, 1, &ts, &err), 0);
    if (ts->ops->list(ts, &l, &err) != 0)
        fail_msg("tablespace list: %s", err.msg);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.v[0].path, "PG_15_x");
    assert_string_equal(l.v[1].path, "PG_15_x/1");
    assert_string_equal(l.v[2].path, "PG_15_x/1/200");
    assert_string_equal(l.v[3].path, "escape");
    assert_int_equal(l.v[3].type, SS_FT_LNK);   /* listed, not entered */
    assert_int_equal(l.root.type, SS_FT_DIR);
    ss_entry_list_free(&l);
    ss_worker wk = { .buf_size = BS };
    wk.buf = malloc(wk.buf_size);
    img m = { .n = 0 };
    ss_range_req rq = { "PG_15_x/1/200", 15, 0, 15, BS, 1, 0 };
    if (ts->ops->range(ts, &wk, &rq, no_sigs, NULL, img_sink, &m, &err) != 0)
        fail_msg("tablespace range: %s", err.msg);
    assert_int_equal(m.n, 15);
    assert_memory_equal(m.buf, "tablespace data", 15);
    m.n = 0;
    ss_range_req esc = { "escape", 9, 0, 9, BS, 1, 0 };
    assert_int_equal(ts->ops->range(ts, &wk, &esc, no_sigs, NULL, img_sink, &m, &err), -1);
    assert_int_equal(m.n, 0);
    assert_null(strstr(err.msg, "TOPSECRET"));
    ts->ops->destroy(ts);
    /* Nor is a subtree below the link's target that goes through the
     * inner link. */
    ss_source *esc_view;
    assert_int_equal(ss_source_remote_subtree(c.src, "pg_tblspc/16384/escape", NULL, 0,
                                              &esc_view, &err), 0);
    assert_int_equal(esc_view->ops->list(esc_view, &l, &err), -1);
    esc_view->ops->destroy(esc_view);
    /* The relative link is not a way out either. */
    ss_source *rel;
    assert_int_equal(ss_source_remote_subtree(c.src, "pg_tblspc/16385", NULL, 0, &rel, &err), 0);
    assert_int_equal(rel->ops->list(rel, &l, &err), -1);
    rel->ops->destroy(rel);
    free(wk.buf);
    disconnect(&c);
}

/* The same link under a ROOT that is not a data directory is not followed. */
static void test_tablespace_not_pg(void **state)
{
    fixture *f = *state;
    conn c;
    connect_to(&c, f->plain, SS_Z_NONE);
    ss_err err;
    void *buf;
    size_t len;
    assert_int_equal(ss_source_remote_read_file(c.src, "pg_tblspc/16384/PG_15_x/1/200", 4096,
                                                &buf, &len, &err), -1);
    assert_null(buf);
    ss_entry_list l;
    assert_int_equal(c.src->ops->list(c.src, &l, &err), 0);
    assert_int_equal(l.n, 2);       /* pg_tblspc, pg_tblspc/16384 (a link) */
    assert_int_equal(l.v[1].type, SS_FT_LNK);
    ss_entry_list_free(&l);
    ss_source *ts;
    assert_int_equal(ss_source_remote_subtree(c.src, "pg_tblspc/16384", NULL, 0, &ts, &err), 0);
    assert_int_equal(ts->ops->list(ts, &l, &err), -1);
    ts->ops->destroy(ts);
    disconnect(&c);
}

/* segsync://H:P/DIR: the data directory is a subdirectory of the agent's
 * ROOT; its tablespace link is followed there too, the plain one not. */
static void test_tablespace_in_subdir(void **state)
{
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    conn c;
    memset(&c, 0, sizeof c);
    c.ar.root = f->dir;
    c.ar.fd = sv[1];
    c.ar.o.compress = (ss_zopt){ SS_Z_NONE, 0, 0 };
    c.ar.o.stats = &c.ar.st;
    assert_int_equal(pthread_create(&c.t, NULL, agent_thread, &c.ar), 0);
    ss_remote_opts o = { .compress = { SS_Z_NONE, 0 }, .subdir = "root" };
    ss_err err;
    if (ss_source_remote_open_opts(&c.src, "pghost", sv[0], sv[0], &o, &err) != 0)
        fail_msg("open: %s", err.msg);
    void *buf;
    size_t len;
    assert_int_equal(ss_source_remote_read_file(c.src, "pg_tblspc/16384/PG_15_x/1/200", 4096,
                                                &buf, &len, &err), 0);
    assert_int_equal(len, 15);
    free(buf);
    ss_source *ts;
    ss_entry_list l;
    assert_int_equal(ss_source_remote_subtree(c.src, "pg_tblspc/16384", NULL, 1, &ts, &err), 0);
    if (ts->ops->list(ts, &l, &err) != 0)
        fail_msg("tablespace list: %s", err.msg);
    assert_non_null(find(&l, "PG_15_x/1/200"));
    ss_entry_list_free(&l);
    ts->ops->destroy(ts);
    disconnect(&c);
    /* ROOT's "plain" is no data directory: its link is not followed. */

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(&c, 0, sizeof c);
    c.ar.root = f->dir;
    c.ar.fd = sv[1];
    c.ar.o.compress = (ss_zopt){ SS_Z_NONE, 0, 0 };
    c.ar.o.stats = &c.ar.st;
    assert_int_equal(pthread_create(&c.t, NULL, agent_thread, &c.ar), 0);
    o.subdir = "plain";
    if (ss_source_remote_open_opts(&c.src, "pghost", sv[0], sv[0], &o, &err) != 0)
        fail_msg("open: %s", err.msg);
    assert_int_equal(ss_source_remote_read_file(c.src, "pg_tblspc/16384/PG_15_x/1/200", 4096,
                                                &buf, &len, &err), -1);
    disconnect(&c);
}


/* live: vanished -> 1, shrunk -> zeros, grown -> ignored; not live: errors. */
static void test_live(void **state)
{
    fixture *f = *state;
    conn c;
    connect_to(&c, f->root, SS_Z_ZSTD);
    ss_err err;
    ss_source *live, *dead;
    assert_int_equal(ss_source_remote_subtree(c.src, "", NULL, 1, &live, &err), 0);
    assert_int_equal(ss_source_remote_subtree(c.src, "", NULL, 0, &dead, &err), 0);
    ss_worker wk = { .buf_size = 4 * BS };
    wk.buf = malloc(wk.buf_size);
    img m;
    /* Vanished (and a vanished directory). */
    ss_range_req gone = { "base/1/999", BS, 0, BS, BS, 1, 0 };
    assert_int_equal(live->ops->range(live, &wk, &gone, no_sigs, NULL, img_sink, &m, &err), 1);
    ss_range_req gone2 = { "base/7/1", BS, 0, BS, BS, 1, 0 };
    assert_int_equal(live->ops->range(live, &wk, &gone2, no_sigs, NULL, img_sink, &m, &err), 1);
    assert_int_equal(dead->ops->range(dead, &wk, &gone, no_sigs, NULL, img_sink, &m, &err), -1);
    /* Listed at 4 blocks, the file has 3: zeros after. */
    memset(&m, 0x55, sizeof m);
    m.n = 0;
    ss_range_req shrunk = { "base/1/100", 4 * BS, 0, 4 * BS, BS, 1, 0 };
    if (live->ops->range(live, &wk, &shrunk, no_sigs, NULL, img_sink, &m, &err) != 0)
        fail_msg("live shrunk: %s", err.msg);
    assert_int_equal(m.n, 4 * BS);
    for (size_t i = 0; i < 3 * BS; i++)
        assert_int_equal(m.buf[i], 'r');
    for (size_t i = 3 * BS; i < 4 * BS; i++)
        assert_int_equal(m.buf[i], 0);
    assert_int_equal(dead->ops->range(dead, &wk, &shrunk, no_sigs, NULL, img_sink, &m, &err), -1);
    assert_int_equal(err.kind, SS_ECHANGED);
    /* Listed at 2 blocks, the file has 3: the listed part, no error. */
    m.n = 0;
    ss_range_req grown = { "base/1/100", 2 * BS, 0, 2 * BS, BS, 1, 0 };
    assert_int_equal(live->ops->range(live, &wk, &grown, no_sigs, NULL, img_sink, &m, &err), 0);
    assert_int_equal(m.n, 2 * BS);
    assert_int_equal(dead->ops->range(dead, &wk, &grown, no_sigs, NULL, img_sink, &m, &err), -1);
    /* The session survived all of that. */
    void *buf;
    size_t len;
    assert_int_equal(ss_source_remote_read_file(live, "PG_VERSION", 16, &buf, &len, &err), 0);
    free(buf);
    live->ops->destroy(live);
    dead->ops->destroy(dead);
    free(wk.buf);
    disconnect(&c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_file_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_views, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tablespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tablespace_not_pg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tablespace_in_subdir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
