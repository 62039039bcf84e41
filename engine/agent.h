/*
 * agent.h — `segsync serve ROOT`: the source side of the wire protocol.
 *
 * Speaks docs/protocol.md on a pair of descriptors (stdin/stdout under ssh
 * or a pipe): answers HELLO (compression is used when both sides want it),
 * LIST_REQ with the tree under ROOT, and RANGE_REQ with the blocks that
 * differ from the signatures in the request. Requests are pipelined: a few
 * worker threads read, hash and answer them while the next ones arrive; a
 * bounded queue holds the rest, so memory stays flat.
 *
 * Read-only: nothing under ROOT (or anywhere) is created, changed or
 * removed. Only paths beneath ROOT are served: relative, no "." or ".."
 * component, opened without following any symlink — with one exception:
 * inside a PostgreSQL data directory (ROOT or a directory beneath it that
 * holds the regular files PG_VERSION and global/pg_control), a path that
 * starts with pg_tblspc/<digits> goes through that one link when it is a
 * symlink to an absolute directory path (a tablespace) made by the data
 * directory's owner (D and D/pg_tblspc writable by that owner only), and
 * the rest of the path is opened beneath the link's target under the same
 * rules.
 *
 * To a client that announces SS_CAP_EXT the agent also answers FILE_REQ
 * (a whole small file), honours RANGE_REQ's live flag (RANGE_GONE for a
 * missing file, zeros for a short one), lists sockets and fifos as "other"
 * entries, sends the listed directory's attributes in LIST_END, and
 * answers a failed LIST_REQ with an ERROR that leaves the session open.
 */
#ifndef SEGSYNC_AGENT_H
#define SEGSYNC_AGENT_H

#include <stdint.h>

#include "engine/error.h"
#include "engine/net/auth.h"
#include "engine/net/zstream.h"

/* What one session did, for the listener's log line. */
typedef struct {
    int auth_failed;        /* refused: wrong or missing token, nothing served */
    int idle;               /* dropped: the client sent nothing for the idle timeout */
    uint64_t lists, ranges, files;  /* requests answered (or queued) */
    uint64_t bytes_in, bytes_out;   /* on the wire */
} ss_agent_stats;

typedef struct {
    ss_zopt compress;       /* offered to the client; SS_Z_NONE never compresses */
    unsigned workers;       /* threads answering RANGE_REQ; 0 = online CPUs, 2..8 */
    /* TCP: the client must prove it holds this token (auth.h) right after
     * the HELLOs, before anything is listed or read; NULL = no
     * authentication (stdin/stdout under ssh, where the login is it). */
    const ss_auth_token *token;
    /* Drop a client that sends nothing for this long while no request of
     * its is being answered; 0 = wait forever. */
    int idle_timeout_ms;
    ss_agent_stats *stats;  /* filled when not NULL */
} ss_agent_opts;

/* Serve ROOT on rfd / wfd until the client ends the session. 0 after END
 * (or the client closing at a message boundary), -1 otherwise (err set;
 * the client was sent an ERROR when the stream still worked).
 *
 * LIST_REQ may name a subtree (relative to ROOT, opened beneath it without
 * following symlinks): the entries are then relative to that subtree.
 * RANGE_REQ paths are always relative to ROOT. */
int ss_agent_serve(const char *root, int rfd, int wfd, const ss_agent_opts *o, ss_err *err);

#endif
