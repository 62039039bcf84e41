/*
 * auth.h — mutual challenge-response authentication over a shared token.
 *
 * Both ends hold the same secret token (a file, mode 0600). After the HELLO
 * exchange:
 *
 *   server -> AUTH_CHALLENGE  sn                       (32 random bytes)
 *   client -> AUTH_RESPONSE   cn, HMAC-SHA256(token, "segsync-auth-v1 client" | sn | cn)
 *   server -> AUTH_OK         HMAC-SHA256(token, "segsync-auth-v1 server" | sn | cn)
 *             (or ERROR "authentication failed", then it closes)
 *
 * Each side checks the other's MAC in constant time, so the server knows the
 * client holds the token and the client knows the server does; the fresh
 * nonces from both sides stop replays, the distinct labels stop a MAC being
 * reflected back. The token never crosses the wire. This authenticates; it
 * does not encrypt (use ssh for that).
 *
 * These functions only compute and check messages; the caller moves them.
 */
#ifndef SEGSYNC_NET_AUTH_H
#define SEGSYNC_NET_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/net/msg.h"

#define SS_TOKEN_MIN 16          /* bytes: shorter tokens are refused */
#define SS_TOKEN_MAX 4096

typedef struct {
    unsigned char key[SS_TOKEN_MAX];
    size_t len;
} ss_auth_token;

/* Read a token file. Trailing whitespace (the newline an editor adds) is
 * not part of the token. Refused, with a message saying how to fix it: not
 * a regular file, readable or writable by group or others (chmod 600),
 * empty, shorter than SS_TOKEN_MIN or longer than SS_TOKEN_MAX bytes. */
int ss_auth_token_load(ss_auth_token *t, const char *path, ss_err *err);
/* A token from memory (tests, or a token handed over another way). */
int ss_auth_token_set(ss_auth_token *t, const void *key, size_t len, ss_err *err);
/* Wipe the key from memory. */
void ss_auth_token_clear(ss_auth_token *t);

typedef struct {
    const ss_auth_token *token;
    uint8_t sn[SS_AUTH_NONCE];
    uint8_t cn[SS_AUTH_NONCE];
    int step;               /* where in the exchange this side is */
} ss_auth;

/* Server: fill *challenge (AUTH_CHALLENGE) with a fresh nonce. */
int ss_auth_server_begin(ss_auth *a, const ss_auth_token *t, ss_msg *challenge, ss_err *err);
/* Server: check the client's AUTH_RESPONSE; on success fill *ok
 * (AUTH_OK). -1 (SS_EPROTO, "authentication failed ...") otherwise: the
 * caller sends ERROR and closes. */
int ss_auth_server_finish(ss_auth *a, const ss_msg *response, ss_msg *ok, ss_err *err);

/* Client: answer the server's AUTH_CHALLENGE with *response. */
int ss_auth_client_respond(ss_auth *a, const ss_auth_token *t, const ss_msg *challenge,
                           ss_msg *response, ss_err *err);
/* Client: check the server's reply: 0 for a valid AUTH_OK; -1 for a wrong
 * MAC (the server does not hold the token), an ERROR (its text is passed
 * on) or anything else. */
int ss_auth_client_finish(ss_auth *a, const ss_msg *reply, ss_err *err);

#endif
