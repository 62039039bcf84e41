/* pqpool.c — see pqpool.h. */
#include "engine/pg/pqpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ss_pqpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *conninfo;
    const ss_pq_stmt *stmts;
    unsigned nstmts;
    int min_version;
    int version;
    unsigned cap;       /* the pool's size */
    unsigned open;      /* connections open or being opened */
    unsigned nfree;
    PGconn **free;      /* cap slots; [0, nfree) idle */
    char where[256];
};

/* The first line of m, without trailing blanks, into buf. */
static void first_line(const char *m, char *buf, size_t size)
{
    if (!m || !*m)
        m = "no answer from the server";
    size_t n = strcspn(m, "\n");
    if (n >= size)
        n = size - 1;
    memcpy(buf, m, n);
    while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\r' || buf[n - 1] == '\t'))
        n--;
    buf[n] = 0;
}

int ss_pq_fail(PGconn *c, PGresult *r, const char *what, const char *perm_hint, ss_err *err)
{
    char msg[512];
    const char *m = r ? PQresultErrorMessage(r) : NULL;
    if (!m || !*m)
        m = c ? PQerrorMessage(c) : NULL;
    first_line(m, msg, sizeof msg);
    /* libpq's messages start with "ERROR:  " or "FATAL:  "; the severity
     * says nothing the caller needs. */
    const char *body = msg;
    static const char *const sev[] = { "ERROR:  ", "FATAL:  ", "PANIC:  " };
    for (size_t i = 0; i < sizeof sev / sizeof *sev; i++)
        if (!strncmp(body, sev[i], strlen(sev[i])))
            body += strlen(sev[i]);
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int denied = state && !strcmp(state, "42501");
    ss_seterr(err, SS_ESOURCE, 0, "source server: %s: %s%s%s", what, body,
              denied && perm_hint ? "; " : "", denied && perm_hint ? perm_hint : "");
    if (r)
        PQclear(r);
    return -1;
}

PGresult *ss_pq_collect(PGconn *c)
{
    PGresult *keep = NULL, *r;
    while ((r = PQgetResult(c)) != NULL) {
        ExecStatusType ks = keep ? PQresultStatus(keep) : PGRES_EMPTY_QUERY;
        if (ks == PGRES_FATAL_ERROR || ks == PGRES_BAD_RESPONSE) {
            PQclear(r);     /* the first error says what went wrong */
            continue;
        }
        if (keep)
            PQclear(keep);
        keep = r;
    }
    return keep;
}

static int exec_ok(PGconn *c, const char *sql, const char *what, ss_err *err)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return ss_pq_fail(c, r, what, NULL, err);
    PQclear(r);
    return 0;
}

static PGconn *connect_one(ss_pqpool *p, ss_err *err)
{
    /* The conninfo may be a URI or key=value pairs; expand_dbname takes
     * both, and segsync names itself unless the conninfo already does. */
    const char *keys[] = { "dbname", "fallback_application_name", NULL };
    const char *vals[] = { p->conninfo, "segsync", NULL };
    if (ss_pqlib_load(err) < 0)
        return NULL;
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c) {
        ss_seterr(err, SS_EINTERNAL, ENOMEM, "source server: cannot allocate a connection");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        ss_pq_fail(c, NULL, "cannot connect", NULL, err);
        PQfinish(c);
        return NULL;
    }
    int v = PQserverVersion(c);
    if (v < p->min_version) {
        ss_seterr(err, SS_ECLUSTER, 0,
                  "source server: version %d.%d cannot be read through libpq (%d.%d or later needed)",
                  v / 10000, v / 100 % 100, p->min_version / 10000, p->min_version / 100 % 100);
        PQfinish(c);
        return NULL;
    }
    /* No JIT: a recursive listing over set-returning functions gets row
     * estimates in the millions and would spend seconds compiling a query
     * that runs in milliseconds. */
    if (exec_ok(c,
                "SET statement_timeout = 0; SET lock_timeout = 0; "
                "SET idle_in_transaction_session_timeout = 0; "
                "SET default_transaction_read_only = on; "
                "SELECT pg_catalog.set_config('search_path', '', false)",
                "cannot set up the session", err) < 0 ||
        (v >= 110000 && exec_ok(c, "SET jit = off", "cannot set up the session", err) < 0)) {
        PQfinish(c);
        return NULL;
    }
    for (unsigned i = 0; i < p->nstmts; i++) {
        PGresult *r = PQprepare(c, p->stmts[i].name, p->stmts[i].sql, 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            ss_pq_fail(c, r, "cannot prepare a query", NULL, err);
            PQfinish(c);
            return NULL;
        }
        PQclear(r);
    }
    return c;
}

int ss_pqpool_open(ss_pqpool **out, const char *conninfo, unsigned nconn, int min_version,
                   const ss_pq_stmt *stmts, unsigned nstmts, ss_err *err)
{
    if (nconn < 1)
        nconn = 1;
    ss_pqpool *p = calloc(1, sizeof *p);
    if (!p || !(p->conninfo = strdup(conninfo)) || !(p->free = calloc(nconn, sizeof *p->free))) {
        if (p)
            free(p->conninfo);
        free(p);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->cap = nconn;
    p->stmts = stmts;
    p->nstmts = nstmts;
    p->min_version = min_version;
    PGconn *c = connect_one(p, err);
    if (!c) {
        ss_pqpool_close(p);
        return -1;
    }
    p->version = PQserverVersion(c);
    const char *host = PQhost(c), *port = PQport(c);
    snprintf(p->where, sizeof p->where, "%s:%s", host && *host ? host : "localhost",
             port && *port ? port : "5432");
    p->open = 1;
    p->free[p->nfree++] = c;
    *out = p;
    return 0;
}

PGconn *ss_pqpool_get(ss_pqpool *p, ss_err *err)
{
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->nfree) {
            PGconn *c = p->free[--p->nfree];
            pthread_mutex_unlock(&p->mu);
            return c;
        }
        if (p->open < p->cap) {
            /* Reserve the slot, connect outside the lock: a connection
             * takes a round trip or more and others may give theirs back
             * meanwhile. */
            p->open++;
            pthread_mutex_unlock(&p->mu);
            PGconn *c = connect_one(p, err);
            if (c)
                return c;
            pthread_mutex_lock(&p->mu);
            p->open--;
            /* With other connections still open (the server may be at
             * max_connections), go on with fewer; with none, fail. */
            if (!p->open) {
                pthread_cond_broadcast(&p->cv);
                pthread_mutex_unlock(&p->mu);
                return NULL;
            }
            p->cap = p->open;
            continue;
        }
        pthread_cond_wait(&p->cv, &p->mu);
    }
}

void ss_pqpool_put(ss_pqpool *p, PGconn *c)
{
    if (!c)
        return;
    /* A connection left in a transaction or mid-query, or lost, is not
     * reused: the next user would see its leftovers. */
    int broken = PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE;
    if (broken)
        PQfinish(c);
    pthread_mutex_lock(&p->mu);
    if (broken)
        p->open--;
    else
        p->free[p->nfree++] = c;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void ss_pqpool_close(ss_pqpool *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->nfree; i++)
        PQfinish(p->free[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->free);
    free(p->conninfo);
    free(p);
}

const char *ss_pqpool_where(const ss_pqpool *p) { return p->where; }
int ss_pqpool_server_version(const ss_pqpool *p) { return p->version; }
