/*
 * confport.h — the per-instance `port` of postgresql.conf.
 *
 * In Greenplum a primary and its mirror run on different ports, and the port
 * is set in postgresql.conf, a file that recovery otherwise copies from the
 * primary. These two pure functions let the recovery keep the target's own
 * port: read it before, put it back after.
 */
#ifndef SEGSYNC_PG_CONFPORT_H
#define SEGSYNC_PG_CONFPORT_H

/* The value of the last active (uncommented) `port` setting, malloc'ed, or
 * NULL when there is none. */
char *ss_pg_conf_port(const char *text);

/* A copy of text in which every active `port` line reads `port = value`
 * (one is appended when there is none); malloc'ed, NULL when out of memory. */
char *ss_pg_conf_with_port(const char *text, const char *value);

#endif
