/*
 * pqpool.h — a small pool of libpq connections to one server, shared by
 * threads.
 *
 * Each connection is used by one thread at a time (libpq's rule): a thread
 * takes one with ss_pqpool_get and gives it back with ss_pqpool_put. The
 * first connection is opened by ss_pqpool_open (so a bad conninfo, an old
 * server or a missing privilege is reported at once), the others only when
 * more threads want one at the same time, up to the pool's size. A
 * connection found broken when it comes back is closed and reopened on next
 * demand.
 *
 * Every connection is set up the same way: no statement, lock or idle
 * timeout (a long read must not be cut), read-only transactions, an empty
 * search_path (the SQL names pg_catalog explicitly anyway), and the pool's
 * prepared statements.
 *
 * Errors read "source server: WHAT: <first line of the server's message>".
 */
#ifndef SEGSYNC_PG_PQPOOL_H
#define SEGSYNC_PG_PQPOOL_H

#include "engine/pg/pqlib.h"

#include "engine/error.h"

typedef struct ss_pqpool ss_pqpool;

typedef struct {
    const char *name;
    const char *sql;
} ss_pq_stmt;

/* nconn >= 1. stmts[0..nstmts) are prepared on every connection (the array
 * must outlive the pool). min_version: the oldest server accepted (e.g.
 * 90500). */
int ss_pqpool_open(ss_pqpool **out, const char *conninfo, unsigned nconn, int min_version,
                   const ss_pq_stmt *stmts, unsigned nstmts, ss_err *err);
/* Blocks until a connection is free (or can be opened). NULL on error. */
PGconn *ss_pqpool_get(ss_pqpool *p, ss_err *err);
void ss_pqpool_put(ss_pqpool *p, PGconn *c);
void ss_pqpool_close(ss_pqpool *p);

/* "HOST:PORT" of the server (a socket directory for HOST on unix sockets). */
const char *ss_pqpool_where(const ss_pqpool *p);
int ss_pqpool_server_version(const ss_pqpool *p);

/* Fill err from a failed result (r may be NULL: the connection's message),
 * clear r, return -1. The message is the first line of libpq's. A
 * permission error (SQLSTATE 42501) is SS_ESOURCE with `perm_hint`
 * appended when given. */
int ss_pq_fail(PGconn *c, PGresult *r, const char *what, const char *perm_hint, ss_err *err);

/* Wait for the results of a query sent with PQsend*: the last non-NULL
 * result (an error one wins over later ones); NULL only when libpq has
 * nothing at all. The connection is idle again afterwards. */
PGresult *ss_pq_collect(PGconn *c);

#endif
