#include "engine/pg/session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pg/pqlib.h"

struct ss_pg_session {
    PGconn *conn;
    int version;
    int in_backup;
};

static int pq_fail(ss_pg_session *s, PGresult *r, const char *what, ss_err *err)
{
    const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(s->conn);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", m && *m ? m : "no answer");
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = 0;
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = ' ';
    if (r)
        PQclear(r);
    return ss_seterr(err, SS_ESOURCE, 0, "source server: %s: %s", what, msg);
}

int ss_pg_parse_lsn(const char *s, uint64_t *lsn)
{
    unsigned hi, lo;
    char tail;
    if (!s || sscanf(s, "%X/%X%c", &hi, &lo, &tail) != 2)
        return -1;
    *lsn = ((uint64_t)hi << 32) | lo;
    return 0;
}

int ss_pg_session_open(ss_pg_session **out, const char *conninfo, ss_err *err)
{
    if (ss_pqlib_load(err) < 0)
        return -1;
    ss_pg_session *s = calloc(1, sizeof *s);
    if (!s)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    s->conn = PQconnectdb(conninfo);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        pq_fail(s, NULL, "cannot connect", err);
        PQfinish(s->conn);
        free(s);
        return -1;
    }
    s->version = PQserverVersion(s->conn);
    if (s->version < 120000) {
        ss_seterr(err, SS_ECLUSTER, 0, "source server: version %d is not supported (12 or later)", s->version);
        PQfinish(s->conn);
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void ss_pg_session_close(ss_pg_session *s)
{
    if (!s)
        return;
    if (s->in_backup)
        ss_pg_backup_abort(s);
    PQfinish(s->conn);
    free(s);
}

int ss_pg_session_version(const ss_pg_session *s) { return s->version; }

static PGresult *exec(ss_pg_session *s, const char *sql, int n, const char *const *params)
{
    return PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);
}

int ss_pg_ensure_slot(ss_pg_session *s, const char *slot, int *created, ss_err *err)
{
    const char *p[1] = { slot };
    PGresult *r = exec(s, "SELECT slot_type FROM pg_catalog.pg_replication_slots WHERE slot_name = $1", 1, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pq_fail(s, r, "cannot look up replication slot", err);
    if (PQntuples(r) == 1) {
        int physical = !strcmp(PQgetvalue(r, 0, 0), "physical");
        PQclear(r);
        if (!physical)
            return ss_seterr(err, SS_ECLUSTER, 0, "source server: replication slot \"%s\" exists and is not physical", slot);
        *created = 0;
        return 0;
    }
    PQclear(r);
    r = exec(s, "SELECT pg_catalog.pg_create_physical_replication_slot($1, true)", 1, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return pq_fail(s, r, "cannot create replication slot", err);
    PQclear(r);
    *created = 1;
    return 0;
}

int ss_pg_checkpoint(ss_pg_session *s, ss_err *err)
{
    PGresult *r = exec(s, "CHECKPOINT", 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return pq_fail(s, r, "CHECKPOINT failed", err);
    PQclear(r);
    return 0;
}

int ss_pg_current_lsn(ss_pg_session *s, uint64_t *lsn, ss_err *err)
{
    PGresult *r = exec(s, "SELECT pg_catalog.pg_current_wal_insert_lsn()", 0, NULL);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        return pq_fail(s, r, "cannot read the WAL position", err);
    int rc = ss_pg_parse_lsn(PQgetvalue(r, 0, 0), lsn);
    PQclear(r);
    return rc < 0 ? ss_seterr(err, SS_EPROTO, 0, "source server: malformed LSN") : 0;
}

int ss_pg_backup_begin(ss_pg_session *s, const char *label, int fast, ss_pg_backup_start *out,
                       ss_err *err)
{
    const char *p[2] = { label, fast ? "true" : "false" };
    const char *sql = s->version >= 150000
        ? "SELECT pg_catalog.pg_backup_start($1, $2::boolean)"
        : "SELECT pg_catalog.pg_start_backup($1, $2::boolean, false)";
    PGresult *r = exec(s, sql, 2, p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        return pq_fail(s, r, "cannot start the backup", err);
    s->in_backup = 1;
    int rc = ss_pg_parse_lsn(PQgetvalue(r, 0, 0), &out->lsn);
    PQclear(r);
    if (rc < 0)
        return ss_seterr(err, SS_EPROTO, 0, "source server: malformed backup start LSN");
    r = exec(s, "SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()", 0, NULL);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        return pq_fail(s, r, "cannot read the timeline", err);
    out->tli = (uint32_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int ss_pg_backup_end(ss_pg_session *s, ss_pg_backup_stop *out, ss_err *err)
{
    memset(out, 0, sizeof *out);
    /* Not waiting for archiving: the WAL the mirror needs is copied from
     * pg_wal and held by the slot, not fetched from an archive. */
    const char *sql = s->version >= 150000
        ? "SELECT lsn, labelfile, spcmapfile FROM pg_catalog.pg_backup_stop(false)"
        : "SELECT lsn, labelfile, spcmapfile FROM pg_catalog.pg_stop_backup(false, false)";
    PGresult *r = exec(s, sql, 0, NULL);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        return pq_fail(s, r, "cannot stop the backup", err);
    s->in_backup = 0;
    if (ss_pg_parse_lsn(PQgetvalue(r, 0, 0), &out->lsn) < 0) {
        PQclear(r);
        return ss_seterr(err, SS_EPROTO, 0, "source server: malformed backup stop LSN");
    }
    out->labelfile = strdup(PQgetvalue(r, 0, 1));
    const char *map = PQgetvalue(r, 0, 2);
    out->spcmapfile = !PQgetisnull(r, 0, 2) && *map ? strdup(map) : NULL;
    PQclear(r);
    if (!out->labelfile)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    return 0;
}

void ss_pg_backup_abort(ss_pg_session *s)
{
    if (!s->in_backup)
        return;
    ss_pg_backup_stop b;
    ss_err e;
    if (ss_pg_backup_end(s, &b, &e) == 0)
        ss_pg_backup_stop_free(&b);
    s->in_backup = 0;
}

void ss_pg_backup_stop_free(ss_pg_backup_stop *b)
{
    free(b->labelfile);
    free(b->spcmapfile);
    memset(b, 0, sizeof *b);
}
