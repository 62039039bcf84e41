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
 * component, opened without following any symlink.
 */
#ifndef SEGSYNC_AGENT_H
#define SEGSYNC_AGENT_H

#include "engine/error.h"
#include "engine/net/zstream.h"

typedef struct {
    ss_zopt compress;       /* offered to the client; SS_Z_NONE never compresses */
    unsigned workers;       /* threads answering RANGE_REQ; 0 = 4 */
} ss_agent_opts;

/* Serve ROOT on rfd / wfd until the client ends the session. 0 after END
 * (or the client closing at a message boundary), -1 otherwise (err set;
 * the client was sent an ERROR when the stream still worked). */
int ss_agent_serve(const char *root, int rfd, int wfd, const ss_agent_opts *o, ss_err *err);

#endif
