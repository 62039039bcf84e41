/*
 * pqlib.h — libpq, loaded the first time a server is to be reached.
 *
 * segsync is not linked with libpq: a process that never talks to a server
 * (the agent on a primary's host, every --raw run) then does not map it and
 * the ~20 libraries it pulls in (Kerberos, LDAP, GnuTLS, ...), which cost
 * ~12 ms of each start on this project's machines -- twice per remote run,
 * the client's and the agent's -- and widen what a network-facing agent
 * carries for nothing.
 *
 * Code that calls libpq includes this header instead of <libpq-fe.h>. The
 * PQ* functions listed below are then macros over the table that
 * ss_pqlib_load fills once (process-wide, written once under pthread_once,
 * read-only after). ss_pqlib_load must have returned 0 before any of them
 * runs: the two places that connect call it, and every other call needs a
 * PGconn or PGresult that only the loaded library can have made.
 */
#ifndef SEGSYNC_PG_PQLIB_H
#define SEGSYNC_PG_PQLIB_H

#include <libpq-fe.h>

#include "engine/error.h"

/* The soname the loader asks for: libpq's ABI has been stable under it
 * since PostgreSQL 8.x. */
#define SS_PQLIB_SONAME "libpq.so.5"

#define SS_PQLIB_FUNCS(X) \
    X(PQclear) X(PQconnectdb) X(PQconnectdbParams) X(PQerrorMessage) X(PQexec) \
    X(PQexecParams) X(PQexecPrepared) X(PQfinish) X(PQgetResult) X(PQgetisnull) \
    X(PQgetlength) X(PQgetvalue) X(PQhost) X(PQnfields) X(PQntuples) X(PQport) \
    X(PQprepare) X(PQresultErrorField) X(PQresultErrorMessage) X(PQresultStatus) \
    X(PQsendQueryPrepared) X(PQserverVersion) X(PQstatus) X(PQtransactionStatus) \
    X(PQuser)

typedef struct {
#define SS_PQLIB_MEMBER(f) __typeof__(f) *f;
    SS_PQLIB_FUNCS(SS_PQLIB_MEMBER)
#undef SS_PQLIB_MEMBER
} ss_pqlib;

/* Load libpq and resolve every function above, once. 0, or -1 with err
 * naming the library (or the missing function) in dlerror's words; a
 * failed load fails the same way every time it is asked again. */
int ss_pqlib_load(ss_err *err);

/* The loaded table (only after ss_pqlib_load returned 0). */
const ss_pqlib *ss_pqlib_get(void);

#define PQclear(...) (ss_pqlib_get()->PQclear(__VA_ARGS__))
#define PQconnectdb(...) (ss_pqlib_get()->PQconnectdb(__VA_ARGS__))
#define PQconnectdbParams(...) (ss_pqlib_get()->PQconnectdbParams(__VA_ARGS__))
#define PQerrorMessage(...) (ss_pqlib_get()->PQerrorMessage(__VA_ARGS__))
#define PQexec(...) (ss_pqlib_get()->PQexec(__VA_ARGS__))
#define PQexecParams(...) (ss_pqlib_get()->PQexecParams(__VA_ARGS__))
#define PQexecPrepared(...) (ss_pqlib_get()->PQexecPrepared(__VA_ARGS__))
#define PQfinish(...) (ss_pqlib_get()->PQfinish(__VA_ARGS__))
#define PQgetResult(...) (ss_pqlib_get()->PQgetResult(__VA_ARGS__))
#define PQgetisnull(...) (ss_pqlib_get()->PQgetisnull(__VA_ARGS__))
#define PQgetlength(...) (ss_pqlib_get()->PQgetlength(__VA_ARGS__))
#define PQgetvalue(...) (ss_pqlib_get()->PQgetvalue(__VA_ARGS__))
#define PQhost(...) (ss_pqlib_get()->PQhost(__VA_ARGS__))
#define PQnfields(...) (ss_pqlib_get()->PQnfields(__VA_ARGS__))
#define PQntuples(...) (ss_pqlib_get()->PQntuples(__VA_ARGS__))
#define PQport(...) (ss_pqlib_get()->PQport(__VA_ARGS__))
#define PQprepare(...) (ss_pqlib_get()->PQprepare(__VA_ARGS__))
#define PQresultErrorField(...) (ss_pqlib_get()->PQresultErrorField(__VA_ARGS__))
#define PQresultErrorMessage(...) (ss_pqlib_get()->PQresultErrorMessage(__VA_ARGS__))
#define PQresultStatus(...) (ss_pqlib_get()->PQresultStatus(__VA_ARGS__))
#define PQsendQueryPrepared(...) (ss_pqlib_get()->PQsendQueryPrepared(__VA_ARGS__))
#define PQserverVersion(...) (ss_pqlib_get()->PQserverVersion(__VA_ARGS__))
#define PQstatus(...) (ss_pqlib_get()->PQstatus(__VA_ARGS__))
#define PQtransactionStatus(...) (ss_pqlib_get()->PQtransactionStatus(__VA_ARGS__))
#define PQuser(...) (ss_pqlib_get()->PQuser(__VA_ARGS__))

#endif
