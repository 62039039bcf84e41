/*
 * test_agent_tcp.c — what the agent adds for TCP clients, over a socketpair:
 * the token handshake (right token served; wrong token or no AUTH_RESPONSE:
 * refused, no LIST answered), a subtree of ROOT as the source (and ".."
 * refused), the agent dropping a silent client, and the client failing
 * clearly when the agent goes silent with requests outstanding (but not
 * while nothing is asked).
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
#include <time.h>
#include <unistd.h>

#include "engine/agent.h"
#include "engine/net/frame.h"
#include "engine/net/session.h"
#include "engine/source_remote.h"

#define TOKEN "correct horse battery staple 42"
#define OTHER "correct horse battery staple 43"

typedef struct {
    char dir[256];
    char root[300];
} fixture;

typedef struct {
    const char *root;
    int fd;
    ss_auth_token tok;
    ss_agent_stats st;
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

static pthread_t start_agent(agent_run *r, const char *root, int fd, int idle_ms)
{
    memset(r, 0, sizeof *r);
    r->root = root;
    r->fd = fd;
    ss_err e;
    assert_int_equal(ss_auth_token_set(&r->tok, TOKEN, strlen(TOKEN), &e), 0);
    r->o.compress = (ss_zopt){ SS_Z_ZSTD, 1, 0 };
    r->o.workers = 2;
    r->o.token = &r->tok;
    r->o.idle_timeout_ms = idle_ms;
    r->o.stats = &r->st;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, agent_thread, r), 0);
    return t;
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
    snprintf(f->dir, sizeof f->dir, "/tmp/segsync-test-agent-tcp.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->root, sizeof f->root, "%s/root", f->dir);
    mkdir(f->root, 0755);
    char p[400];
    snprintf(p, sizeof p, "%s/a", f->root);
    write_file(p, "top-level file\n", 15);
    snprintf(p, sizeof p, "%s/d", f->root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/d/b", f->root);
    write_file(p, "hello\n", 6);
    snprintf(p, sizeof p, "%s/out", f->root);
    assert_int_equal(symlink("..", p), 0);      /* a way out, never followed */
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
    free(f);
    return 0;
}

typedef struct {
    uint8_t *img;
    size_t bytes;
} collect;

static int sink(void *ctx, uint64_t off, const void *data, size_t len, ss_err *err)
{
    (void)err;
    collect *c = ctx;
    memcpy(c->img + off, data, len);
    c->bytes += len;
    return 0;
}

static int no_sigs(void *ctx, const ss_sig **sigs, size_t *n, ss_err *err)
{
    (void)ctx;
    (void)err;
    *sigs = NULL;
    *n = 0;
    return 0;
}

static ss_source *open_client(int fd, const char *token, const char *subdir, int idle_ms,
                              ss_err *err, int *rc)
{
    ss_auth_token t;
    ss_err e;
    assert_int_equal(ss_auth_token_set(&t, token, strlen(token), &e), 0);
    ss_remote_opts o = { .compress = { SS_Z_ZSTD, 1 }, .token = &t, .subdir = subdir,
                         .idle_timeout_ms = idle_ms };
    ss_source *src = NULL;
    *rc = ss_source_remote_open_opts(&src, "tcphost:7070", fd, fd, &o, err);
    ss_auth_token_clear(&t);
    return src;
}

static void test_right_token(void **state)
{
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    agent_run ar;
    pthread_t at = start_agent(&ar, f->root, sv[1], 0);
    ss_err err;
    int rc;
    ss_source *src = open_client(sv[0], TOKEN, NULL, 0, &err, &rc);
    if (rc != 0)
        fail_msg("open: %s", err.msg);
    ss_entry_list l;
    if (src->ops->list(src, &l, &err) != 0)
        fail_msg("list: %s", err.msg);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.v[0].path, "a");
    assert_string_equal(l.v[3].path, "out");
    ss_entry_list_free(&l);
    ss_worker w = { .buf_size = 4096 };
    w.buf = malloc(w.buf_size);
    uint8_t img[64];
    collect c = { img, 0 };
    ss_range_req rq = { "d/b", 6, 0, 6, 4096, 1, 0 };
    assert_int_equal(src->ops->range(src, &w, &rq, no_sigs, NULL, sink, &c, &err), 0);
    assert_memory_equal(img, "hello\n", 6);
    /* The symlink to ".." is not a way out. */
    ss_range_req esc = { "out/secret", 19, 0, 19, 4096, 1, 0 };
    c.bytes = 0;
    assert_int_equal(src->ops->range(src, &w, &esc, no_sigs, NULL, sink, &c, &err), -1);
    assert_int_equal(c.bytes, 0);
    src->ops->destroy(src);
    pthread_join(at, NULL);
    if (ar.rc != 0)
        fail_msg("agent: %s", ar.err.msg);
    assert_int_equal(ar.st.auth_failed, 0);
    assert_int_equal(ar.st.lists, 1);
    assert_int_equal(ar.st.ranges, 2);
    free(w.buf);
}

static void test_wrong_token(void **state)
{
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    agent_run ar;
    pthread_t at = start_agent(&ar, f->root, sv[1], 0);
    ss_err err;
    int rc;
    ss_source *src = open_client(sv[0], OTHER, NULL, 0, &err, &rc);
    assert_int_equal(rc, -1);
    assert_null(src);
    assert_non_null(strstr(err.msg, "source tcphost:7070: authentication failed"));
    pthread_join(at, NULL);
    assert_int_equal(ar.rc, -1);
    assert_int_equal(ar.st.auth_failed, 1);
    assert_int_equal(ar.st.lists, 0);
    assert_non_null(strstr(ar.err.msg, "authentication failed"));
}

/* Read every frame the agent sends until it closes; types into t[]. */
static int read_frames(int fd, int *t, int max, uint8_t *buf, size_t cap, size_t *got)
{
    *got = 0;
    ssize_t n;
    while (*got < cap && (n = read(fd, buf + *got, cap - *got)) > 0)
        *got += (size_t)n;
    ss_frame_dec d;
    ss_frame_dec_init(&d, 0);
    size_t pos = 0, used;
    ss_frame fr;
    ss_err err;
    int nt = 0;
    while (pos < *got && nt < max) {
        int r = ss_frame_dec_feed(&d, buf + pos, *got - pos, &used, &fr, &err);
        pos += used;
        if (r < 0)
            break;
        if (r == 1)
            t[nt++] = fr.type;
    }
    ss_frame_dec_free(&d);
    return nt;
}

/* A client that skips authentication and asks for the listing straight
 * away (no compression, so the reply can be read by hand): HELLO,
 * AUTH_CHALLENGE, ERROR, and no LIST_ENTRY / LIST_END. */
static void test_no_auth_response(void **state)
{
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    agent_run ar;
    pthread_t at = start_agent(&ar, f->root, sv[1], 0);
    ss_wbuf wb;
    ss_wbuf_init(&wb, 1 << 16);
    ss_err err;
    ss_msg m;
    memset(&m, 0, sizeof m);
    m.type = SS_MSG_HELLO;
    m.u.hello = (ss_msg_hello){ SS_PROTO_VERSION, 0, 4096, 1u << 20 };
    assert_int_equal(ss_msg_encode(&wb, &m, &err), 0);
    memset(&m, 0, sizeof m);
    m.type = SS_MSG_LIST_REQ;
    assert_int_equal(ss_msg_encode(&wb, &m, &err), 0);
    assert_int_equal(write(sv[0], wb.p, wb.len), (ssize_t)wb.len);
    ss_wbuf_free(&wb);
    static uint8_t buf[1 << 16];
    size_t got;
    int types[8];
    int nt = read_frames(sv[0], types, 8, buf, sizeof buf, &got);
    close(sv[0]);
    pthread_join(at, NULL);
    assert_int_equal(ar.rc, -1);
    assert_int_equal(ar.st.auth_failed, 1);
    assert_int_equal(ar.st.lists, 0);
    assert_int_equal(nt, 3);
    assert_int_equal(types[0], SS_MSG_HELLO);
    assert_int_equal(types[1], SS_MSG_AUTH_CHALLENGE);
    assert_int_equal(types[2], SS_MSG_ERROR);
    assert_null(memmem(buf, got, "top-level", 9));
    assert_null(memmem(buf, got, "hello", 5));
}

/* segsync://HOST:PORT/d: entries relative to d, ranges fetched beneath it. */
static void test_subtree(void **state)
{
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    agent_run ar;
    pthread_t at = start_agent(&ar, f->root, sv[1], 0);
    ss_err err;
    int rc;
    ss_source *src = open_client(sv[0], TOKEN, "d", 0, &err, &rc);
    if (rc != 0)
        fail_msg("open: %s", err.msg);
    ss_entry_list l;
    if (src->ops->list(src, &l, &err) != 0)
        fail_msg("list: %s", err.msg);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].path, "b");
    ss_entry_list_free(&l);
    ss_worker w = { .buf_size = 4096 };
    w.buf = malloc(w.buf_size);
    uint8_t img[64];
    collect c = { img, 0 };
    ss_range_req rq = { "b", 6, 0, 6, 4096, 1, 0 };
    assert_int_equal(src->ops->range(src, &w, &rq, no_sigs, NULL, sink, &c, &err), 0);
    assert_memory_equal(img, "hello\n", 6);
    src->ops->destroy(src);
    pthread_join(at, NULL);
    assert_int_equal(ar.rc, 0);
    free(w.buf);

    /* ".." and a symlinked subtree are refused. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    src = open_client(sv[0], TOKEN, "../root", 0, &err, &rc);
    assert_int_equal(rc, -1);
    close(sv[1]);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    at = start_agent(&ar, f->root, sv[1], 0);
    src = open_client(sv[0], TOKEN, "out", 0, &err, &rc);
    if (rc != 0)
        fail_msg("open: %s", err.msg);
    assert_int_equal(src->ops->list(src, &l, &err), -1);
    assert_non_null(strstr(err.msg, "out"));
    src->ops->destroy(src);
    pthread_join(at, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A client that connects and says nothing is dropped after the idle time. */
static void test_agent_idle(void **state)
{
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    double t0 = now_s();
    agent_run ar;
    pthread_t at = start_agent(&ar, f->root, sv[1], 300);
    pthread_join(at, NULL);
    double dt = now_s() - t0;
    assert_int_equal(ar.rc, -1);
    assert_non_null(strstr(ar.err.msg, "idle"));
    assert_true(dt >= 0.25 && dt < 5.0);
    close(sv[0]);
}

/* A fake agent: answers HELLO and LIST_REQ (empty), never a RANGE_REQ. */
static void *mute_agent(void *arg)
{
    int fd = *(int *)arg;
    ss_session *s;
    ss_err e;
    if (ss_session_open(&s, fd, fd, 1, &e) < 0)
        return NULL;
    ss_msg m;
    while (ss_session_recv(s, &m, &e) == 1) {
        if (m.type == SS_MSG_HELLO) {
            m.u.hello.caps = 0;
            ss_session_send(s, &m, &e);
        } else if (m.type == SS_MSG_LIST_REQ) {
            ss_msg end = { .type = SS_MSG_LIST_END };
            ss_session_send(s, &end, &e);
        }
        ss_msg_free(&m);
    }
    ss_session_close(s);
    return NULL;
}

static void test_client_idle(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, mute_agent, &sv[1]), 0);
    ss_remote_opts o = { .compress = { SS_Z_NONE, 0 }, .idle_timeout_ms = 300 };
    ss_source *src;
    ss_err err;
    if (ss_source_remote_open_opts(&src, "mute:1", sv[0], sv[0], &o, &err) != 0)
        fail_msg("open: %s", err.msg);
    /* Nothing asked: silence is fine. */
    nanosleep(&(struct timespec){ 0, 700 * 1000 * 1000 }, NULL);
    ss_entry_list l;
    if (src->ops->list(src, &l, &err) != 0)
        fail_msg("list after a quiet spell: %s", err.msg);
    ss_entry_list_free(&l);
    /* A request the agent never answers: a clear error, no hang. */
    ss_worker w = { .buf_size = 4096 };
    w.buf = malloc(w.buf_size);
    uint8_t img[64];
    collect c = { img, 0 };
    ss_range_req rq = { "b", 6, 0, 6, 4096, 1, 0 };
    double t0 = now_s();
    assert_int_equal(src->ops->range(src, &w, &rq, no_sigs, NULL, sink, &c, &err), -1);
    assert_true(now_s() - t0 < 5.0);
    assert_non_null(strstr(err.msg, "source mute:1: no data from the agent"));
    src->ops->destroy(src);
    pthread_join(t, NULL);
    free(w.buf);
}

/* Keepalive: a session left idle for longer than both sides' timeouts
 * (2 s here, 5 s idle) survives: each side PINGs the other after a
 * quarter of its timeout of silence and the other answers PONG. */
static void test_keepalive_idle(void **state)
{
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    agent_run ar;
    pthread_t at = start_agent(&ar, f->root, sv[1], 2000);
    ss_err err;
    int rc;
    ss_source *src = open_client(sv[0], TOKEN, NULL, 2000, &err, &rc);
    if (rc != 0)
        fail_msg("open: %s", err.msg);
    ss_entry_list l;
    if (src->ops->list(src, &l, &err) != 0)
        fail_msg("list: %s", err.msg);
    ss_entry_list_free(&l);
    /* The client is busy elsewhere (hashing, a checkpoint): nothing asked. */
    double t0 = now_s();
    nanosleep(&(struct timespec){ 5, 0 }, NULL);
    assert_true(now_s() - t0 >= 5.0);
    if (src->ops->list(src, &l, &err) != 0)
        fail_msg("list after 5 s idle: %s", err.msg);
    assert_int_equal(l.n, 4);
    ss_entry_list_free(&l);
    ss_worker w = { .buf_size = 4096 };
    w.buf = malloc(w.buf_size);
    uint8_t img[64];
    collect c = { img, 0 };
    ss_range_req rq = { "d/b", 6, 0, 6, 4096, 1, 0 };
    assert_int_equal(src->ops->range(src, &w, &rq, no_sigs, NULL, sink, &c, &err), 0);
    assert_memory_equal(img, "hello\n", 6);
    src->ops->destroy(src);
    pthread_join(at, NULL);
    if (ar.rc != 0)
        fail_msg("agent: %s", ar.err.msg);
    assert_int_equal(ar.st.idle, 0);
    assert_int_equal(ar.st.lists, 2);
    free(w.buf);
}

/* A fake agent that grants keepalive and then never says anything. */
static void *deaf_agent(void *arg)
{
    int fd = *(int *)arg;
    ss_session *s;
    ss_err e;
    if (ss_session_open(&s, fd, fd, 1, &e) < 0)
        return NULL;
    ss_msg m;
    while (ss_session_recv(s, &m, &e) == 1) {
        if (m.type == SS_MSG_HELLO) {
            m.u.hello.caps = SS_CAP_KEEPALIVE;
            ss_session_send(s, &m, &e);
        }
        ss_msg_free(&m);
    }
    ss_session_close(s);
    return NULL;
}

/* Against an agent that announced keepalive, silence is an error even
 * while nothing is asked: it would have answered the PINGs. */
static void test_keepalive_silent_agent(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, deaf_agent, &sv[1]), 0);
    ss_remote_opts o = { .compress = { SS_Z_NONE, 0 }, .idle_timeout_ms = 300 };
    ss_source *src;
    ss_err err;
    if (ss_source_remote_open_opts(&src, "deaf:1", sv[0], sv[0], &o, &err) != 0)
        fail_msg("open: %s", err.msg);
    nanosleep(&(struct timespec){ 1, 0 }, NULL);
    ss_entry_list l;
    double t0 = now_s();
    assert_int_equal(src->ops->list(src, &l, &err), -1);
    assert_true(now_s() - t0 < 0.2);        /* known dead already */
    assert_non_null(strstr(err.msg, "source deaf:1: no data from the agent"));
    assert_non_null(strstr(err.msg, "keepalive"));
    src->ops->destroy(src);
    pthread_join(t, NULL);
}


/* A client that announced keepalive, authenticated, listed, and then
 * answers nothing (a vanished host): the agent's own PINGs do not keep the
 * session alive; it is dropped as idle. */
static void test_keepalive_deaf_client(void **state)
{
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    agent_run ar;
    double t0 = now_s();
    pthread_t at = start_agent(&ar, f->root, sv[1], 300);
    ss_session *s;
    ss_err err;
    assert_int_equal(ss_session_open(&s, sv[0], sv[0], 0, &err), 0);
    ss_msg m, resp;
    memset(&m, 0, sizeof m);
    m.type = SS_MSG_HELLO;
    m.u.hello = (ss_msg_hello){ SS_PROTO_VERSION, SS_CAP_KEEPALIVE, 4096, 1u << 20 };
    assert_int_equal(ss_session_send(s, &m, &err), 0);
    assert_int_equal(ss_session_recv(s, &m, &err), 1);
    assert_int_equal(m.type, SS_MSG_HELLO);
    assert_int_equal(m.u.hello.caps, SS_CAP_KEEPALIVE);
    ss_auth_token t;
    ss_auth au;
    assert_int_equal(ss_auth_token_set(&t, TOKEN, strlen(TOKEN), &err), 0);
    assert_int_equal(ss_session_recv(s, &m, &err), 1);
    assert_int_equal(ss_auth_client_respond(&au, &t, &m, &resp, &err), 0);
    ss_msg_free(&m);
    assert_int_equal(ss_session_send(s, &resp, &err), 0);
    assert_int_equal(ss_session_recv(s, &m, &err), 1);
    assert_int_equal(ss_auth_client_finish(&au, &m, &err), 0);
    ss_msg_free(&m);
    ss_auth_token_clear(&t);
    /* Then silence; the agent PINGs, nobody answers. Bounded: an agent
     * that never gives up fails the test instead of hanging it. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    if (pthread_timedjoin_np(at, NULL, &until) != 0) {
        shutdown(sv[0], SHUT_RDWR);
        pthread_join(at, NULL);
        fail_msg("the agent kept a client that answers nothing for 10 s");
    }
    double dt = now_s() - t0;
    assert_int_equal(ar.rc, -1);
    assert_int_equal(ar.st.idle, 1);
    assert_true(dt < 5.0);
    /* It did PING before giving up. */
    int pings = 0;
    while (ss_session_recv(s, &m, &err) == 1) {
        pings += m.type == SS_MSG_PING;
        ss_msg_free(&m);
    }
    assert_true(pings >= 1);
    ss_session_close(s);
    close(sv[0]);
}


int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_right_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_auth_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subtree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_silent_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_deaf_client, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
