/* Token auth: both directions, wrong tokens, the token file's rules. */
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

#include "engine/net/auth.h"

#define GOOD "0123456789abcdef-good-token"
#define OTHER "0123456789abcdef-othr-token"

/* Pass each message through encode/decode so the wire format is in the loop. */
static void wire(const ss_msg *in, ss_msg *out)
{
    ss_wbuf w;
    ss_err err;
    ss_frame_dec d;
    ss_frame f;
    size_t used;
    ss_wbuf_init(&w, 4096);
    assert_int_equal(ss_msg_encode(&w, in, &err), 0);
    ss_frame_dec_init(&d, 0);
    assert_int_equal(ss_frame_dec_feed(&d, w.p, w.len, &used, &f, &err), 1);
    assert_int_equal(ss_msg_decode(&f, out, &err), 0);
    ss_frame_dec_free(&d);
    ss_wbuf_free(&w);
}

/* Run the exchange; returns which side failed: 0 none, 1 server, 2 client. */
static int exchange(const char *server_tok, const char *client_tok, int tamper_ok, ss_err *err)
{
    ss_auth_token st, ct;
    ss_auth sa, ca;
    ss_msg m, r;
    assert_int_equal(ss_auth_token_set(&st, server_tok, strlen(server_tok), err), 0);
    assert_int_equal(ss_auth_token_set(&ct, client_tok, strlen(client_tok), err), 0);
    assert_int_equal(ss_auth_server_begin(&sa, &st, &m, err), 0);
    wire(&m, &r);
    assert_int_equal(ss_auth_client_respond(&ca, &ct, &r, &m, err), 0);
    wire(&m, &r);
    if (ss_auth_server_finish(&sa, &r, &m, err) < 0)
        return 1;
    if (tamper_ok)
        m.u.auth_ok.mac[0] ^= 1;
    wire(&m, &r);
    if (ss_auth_client_finish(&ca, &r, err) < 0)
        return 2;
    return 0;
}

static void test_right_token_accepted(void **state)
{
    (void)state;
    ss_err err;
    assert_int_equal(exchange(GOOD, GOOD, 0, &err), 0);
}

static void test_wrong_client_token_refused(void **state)
{
    (void)state;
    ss_err err;
    assert_int_equal(exchange(GOOD, OTHER, 0, &err), 1);
    assert_int_equal(err.kind, SS_EPROTO);
    assert_non_null(strstr(err.msg, "authentication failed"));
}

/* A server that does not hold the token cannot forge AUTH_OK. */
static void test_wrong_server_refused(void **state)
{
    (void)state;
    ss_err err;
    assert_int_equal(exchange(GOOD, GOOD, 1, &err), 2);
    assert_non_null(strstr(err.msg, "server does not hold"));
}

/* The client's MAC reflected as AUTH_OK is refused (distinct labels). */
static void test_reflection_refused(void **state)
{
    (void)state;
    ss_err err;
    ss_auth_token t;
    ss_auth ca;
    ss_msg ch = { .type = SS_MSG_AUTH_CHALLENGE }, resp, ok = { .type = SS_MSG_AUTH_OK };
    assert_int_equal(ss_auth_token_set(&t, GOOD, strlen(GOOD), &err), 0);
    assert_int_equal(ss_auth_client_respond(&ca, &t, &ch, &resp, &err), 0);
    memcpy(ok.u.auth_ok.mac, resp.u.response.mac, SS_AUTH_MAC);
    assert_int_equal(ss_auth_client_finish(&ca, &ok, &err), -1);

    /* An ERROR in place of AUTH_OK is passed on. */
    ss_msg e;
    ss_err why = { .kind = SS_EPROTO, .msg = "authentication failed" };
    ss_msg_error_set(&e, 0, &why);
    assert_int_equal(ss_auth_client_respond(&ca, &t, &ch, &resp, &err), 0);
    assert_int_equal(ss_auth_client_finish(&ca, &e, &err), -1);
    assert_non_null(strstr(err.msg, "server refused"));
    ss_auth_token_clear(&t);
    assert_int_equal(t.len, 0);
}

static void write_file(const char *path, const char *body, mode_t mode)
{
    unlink(path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_token_file_rules(void **state)
{
    (void)state;
    char dir[] = "/tmp/segsync-auth-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/token", dir);
    ss_auth_token t;
    ss_err err;

    write_file(path, GOOD "\n", 0600);
    assert_int_equal(ss_auth_token_load(&t, path, &err), 0);
    assert_int_equal(t.len, strlen(GOOD));
    assert_memory_equal(t.key, GOOD, t.len);

    write_file(path, GOOD "\n", 0640);
    assert_int_equal(ss_auth_token_load(&t, path, &err), -1);
    assert_non_null(strstr(err.msg, "chmod 600"));
    write_file(path, GOOD "\n", 0604);
    assert_int_equal(ss_auth_token_load(&t, path, &err), -1);

    write_file(path, "\n\n", 0600);
    assert_int_equal(ss_auth_token_load(&t, path, &err), -1);
    assert_non_null(strstr(err.msg, "empty"));

    write_file(path, "short", 0600);
    assert_int_equal(ss_auth_token_load(&t, path, &err), -1);
    assert_non_null(strstr(err.msg, "at least"));

    unlink(path);
    assert_int_equal(ss_auth_token_load(&t, path, &err), -1);
    assert_non_null(strstr(err.msg, "cannot open token file"));
    assert_int_equal(ss_auth_token_load(&t, dir, &err), -1);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_right_token_accepted),
        cmocka_unit_test(test_wrong_client_token_refused),
        cmocka_unit_test(test_wrong_server_refused),
        cmocka_unit_test(test_reflection_refused),
        cmocka_unit_test(test_token_file_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
