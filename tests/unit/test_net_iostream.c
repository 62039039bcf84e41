/* Byte streams: counts, idle timeout, EPIPE without SIGPIPE, rate limit, TCP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/net/iostream.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    ss_iostream *s;
    size_t len;
    int rc;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *a = p;
    uint8_t *buf = malloc(a->len);
    for (size_t i = 0; i < a->len; i++)
        buf[i] = (uint8_t)(i % 253);
    ss_err err;
    a->rc = ss_iostream_write_all(a->s, buf, a->len, &err);
    if (a->rc == 0)
        a->rc = ss_iostream_close_write(a->s, &err);
    free(buf);
    return NULL;
}

/* Send len bytes from one end of a socketpair to the other; return seconds. */
static double transfer(size_t len, uint64_t rate)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ss_iostream *a, *b;
    ss_err err;
    ss_iostream_opts wo = { .idle_timeout_ms = 5000, .max_rate = rate, .own_fds = 1 };
    ss_iostream_opts ro = { .idle_timeout_ms = 5000, .own_fds = 1 };
    assert_int_equal(ss_iostream_open(&a, sv[0], sv[0], &wo, &err), 0);
    assert_int_equal(ss_iostream_open(&b, sv[1], sv[1], &ro, &err), 0);
    writer_arg wa = { a, len, -1 };
    pthread_t t;
    double t0 = now();
    assert_int_equal(pthread_create(&t, NULL, writer, &wa), 0);
    uint8_t buf[40000];
    size_t got = 0;
    ssize_t n;
    while ((n = ss_iostream_read(b, buf, sizeof buf, &err)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            assert_int_equal(buf[i], (uint8_t)((got + (size_t)i) % 253));
        got += (size_t)n;
    }
    assert_int_equal(n, 0);
    double dt = now() - t0;
    pthread_join(t, NULL);
    assert_int_equal(wa.rc, 0);
    assert_int_equal(got, len);
    assert_true(ss_iostream_bytes_out(a) == len);
    assert_true(ss_iostream_bytes_in(b) == len);
    assert_true(ss_iostream_bytes_in(a) == 0);
    ss_iostream_close(a);
    ss_iostream_close(b);
    return dt;
}

static void test_counts(void **state)
{
    (void)state;
    transfer(3u << 20, 0);
}

/* 1 MiB at 1 MiB/s with a 256 KiB burst takes about 0.75 s. Only a loose
 * lower bound: the machine may be slow, never faster than the limit. */
static void test_rate_limit_roughly_honoured(void **state)
{
    (void)state;
    double dt = transfer(1u << 20, 1u << 20);
    if (dt < 0.5 || dt > 20)
        fail_msg("1 MiB at 1 MiB/s took %.2f s", dt);
}

static void test_idle_timeout(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ss_iostream *s;
    ss_err err;
    ss_iostream_opts o = { .idle_timeout_ms = 150 };
    assert_int_equal(ss_iostream_open(&s, sv[0], sv[0], &o, &err), 0);
    uint8_t b[16];
    double t0 = now();
    assert_int_equal(ss_iostream_read(s, b, sizeof b, &err), -1);
    assert_true(now() - t0 >= 0.1);
    assert_int_equal(err.kind, SS_EPROTO);
    assert_non_null(strstr(err.msg, "idle"));
    /* read_full: the peer closes half way. */
    assert_int_equal(write(sv[1], "abc", 3), 3);
    close(sv[1]);
    assert_int_equal(ss_iostream_read_full(s, b, 8, &err), -1);
    assert_non_null(strstr(err.msg, "3 of 8"));
    ss_iostream_close(s);
    close(sv[0]);
}

static void test_pipe_epipe_is_an_error(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    ss_iostream *s;
    ss_err err;
    ss_iostream_opts o = { .own_fds = 0 };
    assert_int_equal(ss_iostream_open(&s, p[1], p[1], &o, &err), 0);
    /* Without the guard this would kill the test with SIGPIPE. */
    assert_int_equal(ss_iostream_write_all(s, "hello", 5, &err), -1);
    assert_non_null(strstr(err.msg, "closed the connection"));
    ss_iostream_close(s);
    close(p[1]);
}

static void test_tcp(void **state)
{
    (void)state;
    int lfd, cfd;
    ss_err err;
    assert_int_equal(ss_tcp_listen("127.0.0.1", "0", &lfd, &err), 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    char port[16];
    snprintf(port, sizeof port, "%u", ntohs(sa.sin_port));
    ss_iostream *c, *srv;
    assert_int_equal(ss_iostream_connect(&c, "127.0.0.1", port, 2000, NULL, &err), 0);
    assert_int_equal(ss_tcp_accept(lfd, 2000, &cfd, &err), 0);
    ss_iostream_opts o = { .own_fds = 1, .idle_timeout_ms = 2000 };
    assert_int_equal(ss_iostream_open(&srv, cfd, cfd, &o, &err), 0);
    assert_int_equal(ss_iostream_write_all(c, "ping", 4, &err), 0);
    char b[4];
    assert_int_equal(ss_iostream_read_full(srv, b, 4, &err), 0);
    assert_memory_equal(b, "ping", 4);
    ss_iostream_close(c);
    ss_iostream_close(srv);
    close(lfd);

    /* Nobody listens there any more. */
    assert_int_equal(ss_iostream_connect(&c, "127.0.0.1", port, 2000, NULL, &err), -1);
    assert_int_equal(err.kind, SS_ESOURCE);
    assert_non_null(strstr(err.msg, "cannot connect"));
    assert_int_equal(ss_tcp_accept(-1, 10, &cfd, &err), -1);
}

static void test_rate_parse(void **state)
{
    (void)state;
    uint64_t r;
    ss_err err;
    assert_int_equal(ss_rate_parse("500k", &r, &err), 0);
    assert_true(r == 500u * 1024);
    assert_int_equal(ss_rate_parse("100M", &r, &err), 0);
    assert_true(r == 100ull << 20);
    assert_int_equal(ss_rate_parse("1G", &r, &err), 0);
    assert_true(r == 1ull << 30);
    assert_int_equal(ss_rate_parse("64", &r, &err), 0);
    assert_true(r == 64u * 1024);
    const char *bad[] = { "", "k", "10x", "10MB", "-5M", "1.5G", "31k", "0",
                          "99999999999999999999999G" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ss_rate_parse(bad[i], &r, &err) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(err.kind, SS_EUSAGE);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_rate_limit_roughly_honoured),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_pipe_epipe_is_an_error),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_rate_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
