#include "engine/net/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LABEL_CLIENT "segsync-auth-v1 client"
#define LABEL_SERVER "segsync-auth-v1 server"

enum { STEP_NONE, STEP_CHALLENGED, STEP_RESPONDED, STEP_DONE };

int ss_auth_token_set(ss_auth_token *t, const void *key, size_t len, ss_err *err)
{
    if (len < SS_TOKEN_MIN)
        return ss_seterr(err, SS_EUSAGE, 0,
                         "token is %zu bytes, at least %d are needed", len, SS_TOKEN_MIN);
    if (len > SS_TOKEN_MAX)
        return ss_seterr(err, SS_EUSAGE, 0, "token is longer than %d bytes", SS_TOKEN_MAX);
    memcpy(t->key, key, len);
    t->len = len;
    return 0;
}

void ss_auth_token_clear(ss_auth_token *t)
{
    OPENSSL_cleanse(t->key, sizeof t->key);
    t->len = 0;
}

int ss_auth_token_load(ss_auth_token *t, const char *path, ss_err *err)
{
    t->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return ss_seterr(err, SS_EUSAGE, errno, "cannot open token file %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return ss_seterr(err, SS_EUSAGE, e, "cannot stat token file %s", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ss_seterr(err, SS_EUSAGE, 0, "token file %s is not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return ss_seterr(err, SS_EUSAGE, 0,
                         "token file %s is accessible by group or others (mode %04o); "
                         "run: chmod 600 %s",
                         path, (unsigned)(st.st_mode & 07777), path);
    }
    /* Read one byte past the limit so an oversized file is noticed. */
    unsigned char buf[SS_TOKEN_MAX + 1];
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            OPENSSL_cleanse(buf, sizeof buf);
            return ss_seterr(err, SS_EUSAGE, e, "cannot read token file %s", path);
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                     buf[n - 1] == '\t'))
        n--;
    int rc = 0;
    if (n == 0)
        rc = ss_seterr(err, SS_EUSAGE, 0,
                       "token file %s is empty; create one with: "
                       "head -c 32 /dev/urandom | base64 > %s",
                       path, path);
    else if (ss_auth_token_set(t, buf, n, err) < 0) {
        ss_err_prefix(err, "token file: ");
        rc = -1;
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

/* HMAC-SHA256(token, label | sn | cn). */
static int mac(const ss_auth *a, const char *label, uint8_t out[SS_AUTH_MAC], ss_err *err)
{
    uint8_t msg[64 + 2 * SS_AUTH_NONCE];
    size_t ll = strlen(label);
    memcpy(msg, label, ll);
    memcpy(msg + ll, a->sn, SS_AUTH_NONCE);
    memcpy(msg + ll + SS_AUTH_NONCE, a->cn, SS_AUTH_NONCE);
    unsigned int olen = 0;
    if (!HMAC(EVP_sha256(), a->token->key, (int)a->token->len, msg, ll + 2 * SS_AUTH_NONCE,
              out, &olen) ||
        olen != SS_AUTH_MAC)
        return ss_seterr(err, SS_EINTERNAL, 0, "HMAC-SHA256 failed");
    return 0;
}

static int nonce(uint8_t out[SS_AUTH_NONCE], ss_err *err)
{
    if (RAND_bytes(out, SS_AUTH_NONCE) != 1)
        return ss_seterr(err, SS_EINTERNAL, 0, "cannot get random bytes for a nonce");
    return 0;
}

int ss_auth_server_begin(ss_auth *a, const ss_auth_token *t, ss_msg *challenge, ss_err *err)
{
    memset(a, 0, sizeof *a);
    a->token = t;
    if (!t || t->len == 0)
        return ss_seterr(err, SS_EINTERNAL, 0, "no token loaded");
    if (nonce(a->sn, err) < 0)
        return -1;
    memset(challenge, 0, sizeof *challenge);
    challenge->type = SS_MSG_AUTH_CHALLENGE;
    memcpy(challenge->u.challenge.nonce, a->sn, SS_AUTH_NONCE);
    a->step = STEP_CHALLENGED;
    return 0;
}

int ss_auth_server_finish(ss_auth *a, const ss_msg *response, ss_msg *ok, ss_err *err)
{
    if (a->step != STEP_CHALLENGED)
        return ss_seterr(err, SS_EINTERNAL, 0, "authentication steps out of order");
    if (response->type != SS_MSG_AUTH_RESPONSE)
        return ss_seterr(err, SS_EPROTO, 0,
                         "authentication failed: expected AUTH_RESPONSE, got %s",
                         ss_msg_type_name(response->type));
    memcpy(a->cn, response->u.response.nonce, SS_AUTH_NONCE);
    uint8_t want[SS_AUTH_MAC];
    if (mac(a, LABEL_CLIENT, want, err) < 0)
        return -1;
    int same = CRYPTO_memcmp(want, response->u.response.mac, SS_AUTH_MAC) == 0;
    OPENSSL_cleanse(want, sizeof want);
    a->step = STEP_DONE;
    if (!same)
        return ss_seterr(err, SS_EPROTO, 0,
                         "authentication failed: the client's token does not match");
    memset(ok, 0, sizeof *ok);
    ok->type = SS_MSG_AUTH_OK;
    return mac(a, LABEL_SERVER, ok->u.auth_ok.mac, err);
}

int ss_auth_client_respond(ss_auth *a, const ss_auth_token *t, const ss_msg *challenge,
                           ss_msg *response, ss_err *err)
{
    memset(a, 0, sizeof *a);
    a->token = t;
    if (!t || t->len == 0)
        return ss_seterr(err, SS_EINTERNAL, 0, "no token loaded");
    if (challenge->type == SS_MSG_ERROR)
        return ss_seterr(err, challenge->u.error.kind, 0, "server refused the session: %s",
                         challenge->u.error.text);
    if (challenge->type != SS_MSG_AUTH_CHALLENGE)
        return ss_seterr(err, SS_EPROTO, 0,
                         "expected AUTH_CHALLENGE from the server, got %s (does it "
                         "run with a token?)",
                         ss_msg_type_name(challenge->type));
    memcpy(a->sn, challenge->u.challenge.nonce, SS_AUTH_NONCE);
    if (nonce(a->cn, err) < 0)
        return -1;
    memset(response, 0, sizeof *response);
    response->type = SS_MSG_AUTH_RESPONSE;
    memcpy(response->u.response.nonce, a->cn, SS_AUTH_NONCE);
    if (mac(a, LABEL_CLIENT, response->u.response.mac, err) < 0)
        return -1;
    a->step = STEP_RESPONDED;
    return 0;
}

int ss_auth_client_finish(ss_auth *a, const ss_msg *reply, ss_err *err)
{
    if (a->step != STEP_RESPONDED)
        return ss_seterr(err, SS_EINTERNAL, 0, "authentication steps out of order");
    a->step = STEP_DONE;
    if (reply->type == SS_MSG_ERROR)
        return ss_seterr(err, SS_EPROTO, 0, "server refused the token: %s",
                         reply->u.error.text);
    if (reply->type != SS_MSG_AUTH_OK)
        return ss_seterr(err, SS_EPROTO, 0, "expected AUTH_OK from the server, got %s",
                         ss_msg_type_name(reply->type));
    uint8_t want[SS_AUTH_MAC];
    if (mac(a, LABEL_SERVER, want, err) < 0)
        return -1;
    int same = CRYPTO_memcmp(want, reply->u.auth_ok.mac, SS_AUTH_MAC) == 0;
    OPENSSL_cleanse(want, sizeof want);
    if (!same)
        return ss_seterr(err, SS_EPROTO, 0,
                         "authentication failed: the server does not hold the same token");
    return 0;
}
