/*
 * source_remote.h — a source served by `segsync serve` over a byte stream.
 *
 * list() asks the agent for the tree; range() (called concurrently by the
 * engine's workers) sends the target's signatures in a RANGE_REQ with a
 * unique id and waits for the agent's RANGE_DATA runs, which one reader
 * thread demultiplexes into the waiting worker's buffer. Every run's XXH3
 * is checked before it reaches the sink. Errors from the agent read
 * "source HOST: ..."; a dropped connection or a dead agent fails every
 * waiting call with a clear message (nothing hangs).
 */
#ifndef SEGSYNC_SOURCE_REMOTE_H
#define SEGSYNC_SOURCE_REMOTE_H

#include <sys/types.h>

#include <stdint.h>

#include "engine/net/auth.h"
#include "engine/net/zstream.h"
#include "engine/source.h"

/* How a session with an agent behaves, whatever carries it. */
typedef struct {
    ss_zopt compress;
    /* Authenticate with this token after the HELLOs (TCP); NULL = none. */
    const ss_auth_token *token;
    /* While a request is outstanding, no byte from the agent for this long
     * fails the session ("no data from the agent for N s"); 0 = no limit.
     * Silence while nothing is asked is not an error. */
    int idle_timeout_ms;
    /* --max-rate: the client reads (and writes) at most this many bytes per
     * second; TCP / pipe flow control makes the agent send no faster.
     * 0 = unlimited. */
    uint64_t max_rate;
    /* Serve the tree under this subtree of the agent's ROOT (relative, no
     * ".."); NULL or "" = ROOT itself. */
    const char *subdir;
} ss_remote_opts;

/* A session with an agent already running at the other end of rfd / wfd
 * (the source owns and closes them). `name` is used in messages
 * ("source NAME: ..."). Runs the HELLO exchange before returning. */
int ss_source_remote_open(ss_source **out, const char *name, int rfd, int wfd,
                          const ss_zopt *compress, ss_err *err);
/* The same with every option; authentication (when o->token) is done
 * before returning: a refused token is "source NAME: authentication
 * failed ...". */
int ss_source_remote_open_opts(ss_source **out, const char *name, int rfd, int wfd,
                               const ss_remote_opts *o, ss_err *err);

/* Connect to a listening agent (`segsync serve --listen`) at host:port
 * within connect_timeout_ms and open an authenticated session. Messages
 * name the source "HOST:PORT" ("[HOST]:PORT" for an IPv6 address). */
int ss_source_remote_connect(ss_source **out, const char *host, const char *port,
                             int connect_timeout_ms, const ss_remote_opts *o, ss_err *err);

typedef struct {
    const char *host;
    const char *dir;            /* on the agent's host */
    const char *rsh;            /* command, split on blanks; NULL = "ssh" */
    const char *remote_path;    /* the agent binary there; NULL = "segsync" */
    ss_zopt compress;
    int idle_timeout_ms;        /* as in ss_remote_opts */
    uint64_t max_rate;
} ss_remote_spec;

/* Start `RSH HOST REMOTE_PATH serve --compress=... -- DIR` (argv built
 * here, no local shell; the remote shell that ssh runs sees DIR quoted)
 * and open a session over its stdin/stdout. The child is reaped by
 * destroy. */
int ss_source_remote_spawn(ss_source **out, const ss_remote_spec *spec, ss_err *err);

#endif
