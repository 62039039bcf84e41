/*
 * test_agent.c — engine/agent + engine/source_remote over a socketpair: the
 * agent serves a temporary tree in a thread, the remote source talks to it.
 * List and range round trips (full and compared, with and without zstd),
 * per-request errors, a dead agent, and a hostile request for "../x" that
 * gets an ERROR and no data.
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
#include <sys/wait.h>
#include <unistd.h>

#include "engine/agent.h"
#include "engine/net/frame.h"
#include "engine/net/session.h"
#include "engine/source_remote.h"

#define BS 4096u
#define FILE_A (300u * 1024 + 123)     /* not a multiple of the block size */

typedef struct {
    char dir[256];          /* holds root/ and secret */
    char root[300];
    uint8_t *a;             /* contents of root/a */
} fixture;

typedef struct {
    const char *root;
    int fd;
    ss_agent_opts o;
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

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/segsync-test-agent.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->root, sizeof f->root, "%s/root", f->dir);
    mkdir(f->root, 0755);
    char p[400];
    f->a = malloc(FILE_A);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < FILE_A; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        f->a[i] = (uint8_t)(i % 3 ? x : 0);
    }
    snprintf(p, sizeof p, "%s/a", f->root);
    write_file(p, f->a, FILE_A);
    snprintf(p, sizeof p, "%s/d", f->root);
    mkdir(p, 0750);
    snprintf(p, sizeof p, "%s/d/b", f->root);
    write_file(p, "hello\n", 6);
    snprintf(p, sizeof p, "%s/l", f->root);
    assert_int_equal(symlink("a", p), 0);
    snprintf(p, sizeof p, "%s/fifo", f->root);
    assert_int_equal(mkfifo(p, 0644), 0);       /* not listed, never opened for a read */
    snprintf(p, sizeof p, "%s/secret", f->dir);
    write_file(p, "TOPSECRET-TOPSECRET", 19);
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
    free(f->a);
    free(f);
    return 0;
}

static pthread_t start_agent(agent_run *r, const char *root, int fd, ss_zmode z)
{
    memset(r, 0, sizeof *r);
    r->root = root;
    r->fd = fd;
    r->o.compress = (ss_zopt){ z, 1, 0 };
    r->o.workers = 3;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, agent_thread, r), 0);
    return t;
}

/* Collects what the sink receives into a copy of the file. */
typedef struct {
    uint8_t *img;
    size_t bytes, calls;
} collect;

static int sink(void *ctx, uint64_t off, const void *data, size_t len, ss_err *err)
{
    (void)err;
    collect *c = ctx;
    memcpy(c->img + off, data, len);
    c->bytes += len;
    c->calls++;
    return 0;
}

typedef struct {
    ss_sig *s;
    size_t n;
} tsigs;

static int tsig(void *ctx, const ss_sig **sigs, size_t *n, ss_err *err)
{
    (void)err;
    tsigs *t = ctx;
    *sigs = t->s;
    *n = t->n;
    return 0;
}

typedef struct {
    ss_source *src;
    const uint8_t *want;
    int compare;
    int ok;
} range_job;

/* Fetch all of root/a in 64 KiB ranges; with compare, the target is a copy
 * with block 3 of each range changed and the last range's tail missing. */
static void *range_thread(void *arg)
{
    range_job *j = arg;
    ss_worker w = { 0 };
    w.buf_size = 64 * 1024;
    w.buf = malloc(w.buf_size);
    uint8_t *img = calloc(1, FILE_A);
    uint8_t *tgt = malloc(FILE_A);
    memcpy(tgt, j->want, FILE_A);
    j->ok = 1;
    for (uint64_t off = 0; off < FILE_A; off += w.buf_size) {
        uint64_t len = FILE_A - off < w.buf_size ? FILE_A - off : w.buf_size;
        ss_range_req req = { "a", FILE_A, off, len, BS, off + len == FILE_A, j->compare };
        collect c = { img, 0, 0 };
        ss_sig sigs[64];
        tsigs t = { sigs, 0 };
        if (j->compare) {
            memcpy(img + off, j->want + off, len);      /* what the target has */
            if (len > 3 * BS)
                tgt[off + 3 * BS + 7] ^= 0x5a;
            t.n = ss_sig_blocks(tgt + off, (size_t)len, BS, sigs);
            if (off + len == FILE_A)
                t.n--;                                   /* target shorter */
        }
        ss_err err;
        if (j->src->ops->range(j->src, &w, &req, tsig, &t, sink, &c, &err) != 0) {
            print_error("range at %llu: %s\n", (unsigned long long)off, err.msg);
            j->ok = 0;
            break;
        }
        if (j->compare) {
            size_t want = (len > 3 * BS ? BS : 0);
            size_t lastb = (size_t)((len - 1) / BS) * BS;
            if (off + len == FILE_A)
                want += (size_t)len - lastb;
            if (c.bytes != want) {
                print_error("compare at %llu: %zu bytes sent, want %zu\n",
                            (unsigned long long)off, c.bytes, want);
                j->ok = 0;
            }
        } else if (c.bytes != len) {
            j->ok = 0;
        }
    }
    if (memcmp(img, j->want, FILE_A) != 0)
        j->ok = 0;
    free(img);
    free(tgt);
    free(w.buf);
    return NULL;
}

static void roundtrip(fixture *f, ss_zmode z)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    agent_run ar;
    pthread_t at = start_agent(&ar, f->root, sv[1], z);
    ss_source *src;
    ss_err err;
    ss_zopt zo = { z, 1, 0 };
    if (ss_source_remote_open(&src, "testhost", sv[0], sv[0], &zo, &err) != 0)
        fail_msg("open: %s", err.msg);

    ss_entry_list l;
    if (src->ops->list(src, &l, &err) != 0)
        fail_msg("list: %s", err.msg);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.v[0].path, "a");
    assert_int_equal(l.v[0].type, SS_FT_REG);
    assert_int_equal(l.v[0].size, FILE_A);
    assert_string_equal(l.v[1].path, "d");
    assert_int_equal(l.v[1].type, SS_FT_DIR);
    assert_int_equal(l.v[1].mode, 0750);
    assert_string_equal(l.v[2].path, "d/b");
    assert_string_equal(l.v[3].path, "l");
    assert_int_equal(l.v[3].type, SS_FT_LNK);
    assert_string_equal(l.v[3].link, "a");
    ss_entry_list_free(&l);

    /* Several workers at once, full and compared. */
    range_job jobs[4];
    pthread_t tids[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (range_job){ src, f->a, i % 2, 0 };
        assert_int_equal(pthread_create(&tids[i], NULL, range_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(tids[i], NULL);
        assert_true(jobs[i].ok);
    }

    /* A per-request error names the host and leaves the session usable. */
    ss_worker w = { .buf_size = 8192 };
    w.buf = malloc(w.buf_size);
    uint8_t img[8192];
    collect c = { img, 0, 0 };
    ss_range_req missing = { "nope", 10, 0, 10, BS, 1, 0 };
    assert_int_equal(src->ops->range(src, &w, &missing, tsig, NULL, sink, &c, &err), -1);
    assert_non_null(strstr(err.msg, "source testhost: "));
    assert_non_null(strstr(err.msg, "nope"));
    /* A file whose size is not the listed one. */
    ss_range_req shrunk = { "d/b", 7, 0, 6, BS, 0, 0 };
    shrunk.len = 7;
    shrunk.last = 1;
    assert_int_equal(src->ops->range(src, &w, &shrunk, tsig, NULL, sink, &c, &err), -1);
    assert_int_equal(err.kind, SS_ECHANGED);
    ss_range_req ok = { "d/b", 6, 0, 6, BS, 1, 0 };
    c.bytes = 0;
    assert_int_equal(src->ops->range(src, &w, &ok, tsig, NULL, sink, &c, &err), 0);
    assert_int_equal(c.bytes, 6);
    assert_memory_equal(img, "hello\n", 6);
    /* A symlink in the path is not followed. */
    ss_range_req vial = { "l", FILE_A, 0, 100, BS, 0, 0 };
    assert_int_equal(src->ops->range(src, &w, &vial, tsig, NULL, sink, &c, &err), -1);
    /* Nor does a fifo hang the agent. */
    ss_range_req fifo = { "fifo", 100, 0, 100, BS, 1, 0 };
    assert_int_equal(src->ops->range(src, &w, &fifo, tsig, NULL, sink, &c, &err), -1);
    assert_non_null(strstr(err.msg, "regular file"));

    /* Several requests in flight from one thread (range_start /
     * range_finish, as a worker batches small files): each answer lands in
     * its own part of one buffer, in order, and a failing request in the
     * middle fails alone. */
    {
        enum { N = 5, PART = 64 * 1024 };
        uint8_t *big = malloc((size_t)N * PART);
        uint8_t *img2 = calloc(1, FILE_A);
        ss_range_op *ops[N];
        int rcs[N];
        for (int i = 0; i < N; i++) {
            uint64_t off = (uint64_t)i * PART;
            ss_range_req r = { "a", FILE_A, off, PART, BS, 0, 0 };
            if (i == 2)
                r = (ss_range_req){ "nope", 10, 0, 10, BS, 1, 0 };
            if (i == N - 1) {
                r.len = FILE_A - off;
                r.last = 1;
            }
            assert_true(off + r.len <= FILE_A);
            assert_int_equal(src->ops->range_start(src, &r, big + off, tsig, NULL, &ops[i],
                                                   &err), 0);
        }
        for (int i = 0; i < N; i++) {
            collect cc = { img2, 0, 0 };
            rcs[i] = src->ops->range_finish(src, ops[i], sink, &cc, &err);
            if (i == 2) {
                assert_int_equal(rcs[i], -1);
                assert_non_null(strstr(err.msg, "nope"));
                assert_int_equal(cc.bytes, 0);
            } else {
                assert_int_equal(rcs[i], 0);
                uint64_t off = (uint64_t)i * PART;
                size_t len = i == N - 1 ? FILE_A - off : PART;
                assert_int_equal(cc.bytes, len);
                assert_memory_equal(img2 + off, f->a + off, len);
                assert_memory_equal(big + off, f->a + off, len);
            }
        }
        /* The session is still usable afterwards. */
        c.bytes = 0;
        assert_int_equal(src->ops->range(src, &w, &ok, tsig, NULL, sink, &c, &err), 0);
        assert_int_equal(c.bytes, 6);
        free(img2);
        free(big);
    }

    uint64_t wire = src->ops->wire_bytes(src);
    assert_true(wire > 0);
    if (z == SS_Z_ZSTD)
        assert_true(wire < 3u * FILE_A);  /* 5 copies of a 2/3-random file were sent */
    src->ops->destroy(src);
    pthread_join(at, NULL);
    if (ar.rc != 0)
        fail_msg("agent: %s", ar.err.msg);
    free(w.buf);
}

static void test_roundtrip_plain(void **state)
{
    roundtrip(*state, SS_Z_NONE);
}

static void test_roundtrip_zstd(void **state)
{
    roundtrip(*state, SS_Z_ZSTD);
}

/* A fake agent's side of the handshake, in a child: answers HELLO with
 * no capabilities. 0, or the child's exit status for what went wrong. */
static int fake_hello(ss_session *s)
{
    ss_msg m;
    ss_err e;
    if (ss_session_recv(s, &m, &e) != 1 || m.type != SS_MSG_HELLO)
        return 2;
    m.u.hello.caps = 0;
    return ss_session_send(s, &m, &e) != 0 ? 3 : 0;
}

/* The agent goes away while requests wait: every caller gets an error. */
static void test_dead_agent(void **state)
{
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    /* A fake agent: answers HELLO, then reads one request and hangs up. */
    ss_session *s;
    ss_err err;
    ss_source *src = NULL;
    ss_zopt none = { SS_Z_NONE, 0, 0 };
    (void)f;
    assert_int_equal(ss_session_open(&s, sv[1], sv[1], 1, &err), 0);
    /* A fake agent in a child process: answers HELLO, reads one request
     * and hangs up without answering it. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        ss_err e;
        int hrc = fake_hello(s);
        if (hrc)
            _exit(hrc);
        ss_msg r;
        if (ss_session_recv(s, &r, &e) != 1 || r.type != SS_MSG_RANGE_REQ)
            _exit(4);
        _exit(0);   /* hang up with the request unanswered */
    }
    ss_session_close(s);
    assert_int_equal(ss_source_remote_open(&src, "deadhost", sv[0], sv[0], &none, &err), 0);
    ss_worker w = { .buf_size = 8192 };
    w.buf = malloc(w.buf_size);
    uint8_t img[8192];
    collect c = { img, 0, 0 };
    ss_range_req req = { "a", FILE_A, 0, 8192, BS, 0, 0 };
    assert_int_equal(src->ops->range(src, &w, &req, tsig, NULL, sink, &c, &err), -1);
    assert_non_null(strstr(err.msg, "source deadhost: "));
    assert_non_null(strstr(err.msg, "connection closed"));
    /* Later calls fail at once. */
    assert_int_equal(src->ops->range(src, &w, &req, tsig, NULL, sink, &c, &err), -1);
    ss_entry_list l;
    assert_int_equal(src->ops->list(src, &l, &err), -1);
    src->ops->destroy(src);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(w.buf);
}

/* An agent that stops reading and then says why (an unreadable root): a
 * request sent in between fails with a broken pipe, but the error the
 * caller gets is the agent's, which arrives after. The fake agent stops
 * reading first and speaks 200 ms later, so the send always fails first. */
static void test_error_after_hangup(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ss_session *s;
    ss_err err;
    ss_source *src = NULL;
    ss_zopt none = { SS_Z_NONE, 0, 0 };
    assert_int_equal(ss_session_open(&s, sv[1], sv[1], 1, &err), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        ss_err e;
        int hrc = fake_hello(s);
        if (hrc)
            _exit(hrc);
        shutdown(sv[1], SHUT_RD);
        nanosleep(&(struct timespec){ 0, 200 * 1000 * 1000 }, NULL);
        ss_msg er;
        memset(&er, 0, sizeof er);
        er.type = SS_MSG_ERROR;
        er.u.error.id = 0;
        er.u.error.kind = SS_ESOURCE;
        snprintf(er.u.error.text, sizeof er.u.error.text, "%s",
                 "cannot open source directory /nowhere: Permission denied");
        if (ss_session_send(s, &er, &e) != 0)
            _exit(4);
        _exit(0);
    }
    ss_session_close(s);
    assert_int_equal(ss_source_remote_open(&src, "gonehost", sv[0], sv[0], &none, &err), 0);
    ss_entry_list l;
    assert_int_equal(src->ops->list(src, &l, &err), -1);
    assert_non_null(strstr(err.msg, "source gonehost: cannot open source directory /nowhere"));
    src->ops->destroy(src);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A RANGE_REQ for "../secret", built by hand (the encoder refuses it):
 * the agent answers ERROR and never the file's bytes. */
static void test_hostile_path(void **state)
{
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    agent_run ar;
    pthread_t at = start_agent(&ar, f->root, sv[1], SS_Z_NONE);

    ss_wbuf wb;
    ss_wbuf_init(&wb, 1 << 20);
    ss_err err;
    ss_msg m;
    memset(&m, 0, sizeof m);
    m.type = SS_MSG_HELLO;
    m.u.hello = (ss_msg_hello){ SS_PROTO_VERSION, 0, BS, 1u << 20 };
    assert_int_equal(ss_msg_encode(&wb, &m, &err), 0);
    size_t at_ = ss_frame_begin(&wb, SS_MSG_RANGE_REQ);
    ss_wbuf_u64(&wb, 7);
    ss_wbuf_str(&wb, "../secret");
    ss_wbuf_u64(&wb, 19);
    ss_wbuf_u64(&wb, 0);
    ss_wbuf_u64(&wb, 19);
    ss_wbuf_u32(&wb, BS);
    ss_wbuf_u8(&wb, 1);
    ss_wbuf_u32(&wb, 0);
    assert_int_equal(ss_frame_end(&wb, at_, &err), 0);
    assert_int_equal(write(sv[0], wb.p, wb.len), (ssize_t)wb.len);
    ss_wbuf_free(&wb);

    /* Read everything the agent says until it closes. */
    uint8_t buf[65536];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf && (n = read(sv[0], buf + got, sizeof buf - got)) > 0)
        got += (size_t)n;
    close(sv[0]);
    pthread_join(at, NULL);
    assert_int_equal(ar.rc, -1);
    assert_non_null(memmem(buf, got, "path", 4));          /* the error says why */
    assert_null(memmem(buf, got, "TOPSECRET", 9));         /* and sends no data */
    /* Frames: HELLO then ERROR. */
    ss_frame_dec d;
    ss_frame_dec_init(&d, 0);
    size_t pos = 0, used;
    ss_frame fr;
    int types[4], nt = 0;
    while (pos < got && nt < 4) {
        int r = ss_frame_dec_feed(&d, buf + pos, got - pos, &used, &fr, &err);
        pos += used;
        assert_true(r >= 0);
        if (r == 1)
            types[nt++] = fr.type;
    }
    ss_frame_dec_free(&d);
    assert_int_equal(nt, 2);
    assert_int_equal(types[0], SS_MSG_HELLO);
    assert_int_equal(types[1], SS_MSG_ERROR);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_zstd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_after_hangup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
